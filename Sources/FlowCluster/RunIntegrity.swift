import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Checks a run directory's committed shards against its journal, and repairs it before `--resume`.
///
/// A committed shard is intact when its journal record matches the run's shard layout, names the
/// canonical file for its id (`latents/shard-NNNNNN.npy`, nothing outside the run directory), the latents
/// file has the journaled CRC-32 and `count` float32 rows, and the labels file holds exactly the bytes the
/// aggregator writes for that index range (the labels are a function of the run header). Reading each file
/// once is cheap next to computing it.
public enum RunIntegrity {
    /// One committed shard that cannot be used.
    public struct Damage: Equatable, Sendable {
        public var shard: Int
        public var file: String
        public var reason: String
    }

    /// The state of a run directory.
    public struct Result {
        public var header: RunHeader
        /// Intact commits, one per shard, in index order.
        public var intact: [ShardCommit]
        public var damaged: [Damage]
        /// Shards of the run's layout.
        public var shardCount: Int
        /// Records for a shard already recorded (harmless; dropped by a repair).
        public var duplicateRecords: Int
        /// Committed shards whose files are not written yet but whose shard-log record matches the journal (a run
        /// stopped by a crash, or still running): `--resume` restores them without computing them again.
        public var pendingInLog: [Int] = []
        /// Samples in intact shards.
        public var samplesIntact: Int { intact.reduce(0) { $0 + $1.count } }
        /// Every sample of the run (of a part run: every shard of its part) is in an intact shard.
        public var complete: Bool {
            guard damaged.isEmpty, pendingInLog.isEmpty else { return false }
            if let text = header.part {
                guard let part = try? RunPart(parsing: text) else { return false }
                return Set(intact.map { $0.shard }) == Set(part.shards(of: shardCount))
            }
            return samplesIntact == header.samples
        }
    }

    /// The class-conditional eval set a header describes (nil for prompt sets: see `expectedLabels(of:)`).
    public static func evalSet(of h: RunHeader) -> EvalSet? {
        guard let mode = EvalSet.LabelMode(rawValue: h.labelMode), h.samples > 0, h.classes > 0,
            let set = try? EvalSet(samples: h.samples, classes: h.classes, labelMode: mode, seed: h.seed),
            set.id == h.evalSetId
        else { return nil }
        return set
    }

    /// True when a header describes a prompt (text-to-image) run.
    public static func isPromptRun(_ h: RunHeader) -> Bool { h.evalSetId.hasPrefix("prompts-") }

    /// The labels a run with header `h` has for an index range: the class labels of a class-conditional set, the
    /// prompt index i / K of a prompt run; nil when the header describes neither consistently.
    public static func expectedLabels(of h: RunHeader) -> ((Range<Int>) -> [Int32])? {
        if isPromptRun(h) {
            let k = h.imagesPerPrompt ?? 1
            guard k >= 1, h.samples > 0, h.samples % k == 0 else { return nil }
            return { EvalSet.promptLabels($0, imagesPerPrompt: k) }
        }
        guard let set = evalSet(of: h) else { return nil }
        return { set.labels(first: $0.lowerBound, count: $0.count) }
    }

    /// The labels file the aggregator writes for `range` (int32 `.npy`).
    public static func labelsBytes(_ set: EvalSet, _ range: Range<Int>) -> [UInt8] {
        labelsBytes(set.labels(first: range.lowerBound, count: range.count))
    }

    /// An int32 labels `.npy` file.
    static func labelsBytes(_ labels: [Int32]) -> [UInt8] {
        labels.withUnsafeBytes { NPY.encode(dtype: .int32, shape: [labels.count], body: $0) }
    }

    /// Path of a shard's labels file, relative to the run directory.
    public static func labelsFile(shard: Int) -> String {
        String(Aggregator.latentsFile(shard: shard).dropLast(4)) + ".labels.npy"
    }

    /// Reads the journal in `outDir` and checks every committed shard (read-only).
    public static func check(outDir: String) throws -> Result {
        let (header, commits, _, _) = try Journal.read(RunDirectory.journalPath(outDir))
        return check(outDir: outDir, header: header, commits: commits)
    }

    /// Checks `commits` (journal order) of a run with `header` against the files in `outDir` (read-only).
    public static func check(outDir: String, header h: RunHeader, commits: [ShardCommit]) -> Result {
        let layout =
            h.samples > 0 && h.shardSize > 0 && h.samples <= Bounds.maxSamples
            ? stride(from: 0, to: h.samples, by: h.shardSize).map { $0..<min($0 + h.shardSize, h.samples) } : []
        let labels = expectedLabels(of: h)
        var seen = Set<Int>()
        var intact: [ShardCommit] = []
        var damaged: [Damage] = []
        var duplicates = 0
        for c in commits {
            guard seen.insert(c.shard).inserted else {
                duplicates += 1
                continue
            }
            if let reason = problem(c, outDir: outDir, layout: layout, labels: labels) {
                damaged.append(Damage(shard: c.shard, file: c.file, reason: reason))
            } else {
                intact.append(c)
            }
        }
        intact.sort { $0.first < $1.first }
        // A run that stopped (or is running) before writing its newest shard files: they are in the shard log.
        var pending: [Int] = []
        if !damaged.isEmpty {
            let logged = ShardLog.loggedChecksums(outDir: outDir)
            let journaled = Dictionary(commits.map { ($0.shard, $0.checksum) }, uniquingKeysWith: { a, _ in a })
            damaged.removeAll { d in
                guard let c = logged[d.shard], c == journaled[d.shard] else { return false }
                pending.append(d.shard)
                return true
            }
        }
        return Result(
            header: h, intact: intact, damaged: damaged, shardCount: layout.count,
            duplicateRecords: duplicates, pendingInLog: pending.sorted())
    }

    /// Why commit `c` cannot be used, or nil when it is intact.
    static func problem(
        _ c: ShardCommit, outDir: String, layout: [Range<Int>],
        labels expected: ((Range<Int>) -> [Int32])?
    ) -> String? {
        guard c.shard >= 0, c.shard < layout.count, layout[c.shard] == c.first..<(c.first + c.count) else {
            return "record (first \(c.first), count \(c.count)) does not match the run's shard layout"
        }
        guard c.file == Aggregator.latentsFile(shard: c.shard) else {
            return "record names \(c.file), not \(Aggregator.latentsFile(shard: c.shard)) (paths outside the "
                + "shard's own file are refused)"
        }
        guard let bytes = try? FileIO.read(outDir + "/" + c.file) else {
            return "latents file is missing or "
                + "unreadable"
        }
        guard CRC32.hex(bytes) == c.checksum else {
            return "latents checksum \(CRC32.hex(bytes)) != journal \(c.checksum) (\(bytes.count) bytes)"
        }
        guard let a = try? NPY.decode(bytes, source: c.file), a.dtype == .float32, a.shape.first == c.count else {
            return "latents are not float32 with \(c.count) rows"
        }
        let labelsPath = outDir + "/" + labelsFile(shard: c.shard)
        guard let labels = try? FileIO.read(labelsPath) else { return "labels file is missing or unreadable" }
        if let expected {
            let want = labelsBytes(expected(layout[c.shard]))
            guard labels == want else {
                return "labels checksum \(CRC32.hex(labels)) != expected \(CRC32.hex(want)) (\(labels.count) of "
                    + "\(want.count) bytes)"
            }
        } else {
            guard let l = try? NPY.decode(labels, source: labelsPath), l.dtype == .int32, l.shape == [c.count] else {
                return "labels are not int32 with \(c.count) entries"
            }
        }
        return nil
    }

    /// Before a resume: finds damaged or missing committed shards, removes their records from the journal
    /// (atomic rewrite) and their files, so the coordinator computes them again — bit-identically, as every
    /// sample depends only on (seed, index). Leaves everything untouched when the journal is missing, cannot
    /// be read or belongs to another configuration (the coordinator's resume reports those).
    /// Returns what was found damaged.
    @discardableResult
    public static func repair(outDir: String, expected: RunHeader) throws -> [Damage] {
        let path = RunDirectory.journalPath(outDir)
        guard FileIO.exists(path), let (header, commits, _, _) = try? Journal.read(path),
            expected.firstDifference(from: header) == nil
        else { return [] }
        // Shards still in the shard log (a crash before their files were written) are restored first, not recomputed.
        try ShardLog.recover(outDir: outDir)
        let r = check(outDir: outDir, header: header, commits: commits)
        guard !r.damaged.isEmpty || r.duplicateRecords > 0 else { return [] }
        try Journal.rewrite(path, header: header, commits: r.intact)
        for d in r.damaged where d.shard >= 0 && d.shard < r.shardCount {
            let base = outDir + "/" + String(Aggregator.latentsFile(shard: d.shard).dropLast(4))
            for suffix in [".npy", ".labels.npy", ".json"] { unlink(base + suffix) }
        }
        return r.damaged
    }
}
