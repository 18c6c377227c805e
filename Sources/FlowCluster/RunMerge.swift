import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Combines the run directories of coordinator-free parts (`RunPart`) into one run directory.
///
/// Every part is verified (`RunIntegrity`), the headers must be equal except for the part field, and
/// every shard of the global layout must be in exactly one part. The shard files are hard-linked (copied
/// across filesystems) into the output, whose journal has the whole run's header (no part) and every
/// commit in shard order, so the output is an ordinary complete run: `verify`, the report, `--export-npz`
/// and `--resume` (nothing left to compute) accept it, and its latents are the bytes of a single run.
public enum RunMerge {
    /// File a finished part writes next to its journal (`RunPartRecord`).
    public static let partRecordFile = "part.json"

    /// Writes `part.json` for a finished part session; a resumed session adds to the record of the earlier
    /// ones (latency merged, counters and wall time summed), so a requeued part loses none of its timings.
    public static func writePartRecord(
        outDir: String, part: RunPart, summary: CoordinatorSummary,
        workers: Int
    ) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var record = RunPartRecord(part: part, summary: summary, workers: workers)
        if summary.resumedShards > 0, let old = try? RunPartRecord.read(outDir), old.part == record.part {
            record.latency.merge(old.latency)
            record.wallSeconds += old.wallSeconds
            record.assignments += old.assignments
            record.requeues += old.requeues
            record.committedThisSession += old.committedThisSession
            record.workers = max(record.workers, old.workers)
        }
        try FileIO.writeAtomically(outDir + "/" + partRecordFile, Array(try enc.encode(record)), durable: true)
    }

    /// What a merge produced.
    public struct Result {
        public var header: RunHeader
        /// Summary for the report: counters summed over parts, latency merged, wall time of the longest part.
        public var summary: CoordinatorSummary
        /// Workers of all parts together.
        public var workers: Int
        /// Shard files hard-linked and copied.
        public var linked = 0, copied = 0
    }

    /// Checks the parts in `dirs` and writes the merged run into `outDir` (which must not hold a run).
    public static func merge(_ dirs: [String], into outDir: String) throws -> Result {
        guard !dirs.isEmpty else { throw FlowError("merge needs the run directories of the parts") }
        let out = RunDirectory.normalize(outDir)
        for d in dirs where RunDirectory.normalize(d) == out {
            throw FlowError("the output \(outDir) is also a part (\(d)); write the merged run to a new directory")
        }
        var checks: [RunIntegrity.Result] = []
        for d in dirs {
            guard FileIO.exists(RunDirectory.journalPath(d)) else {
                throw FlowError("\(d) has no journal.log: not a run directory; give the \(.out) of each part")
            }
            if RunDirectory.isLockedByOther(d) {
                throw FlowError("\(d) is still being written by a run; wait for that part to finish")
            }
            let c = try RunIntegrity.check(outDir: d)
            if let bad = c.damaged.first {
                throw FlowError(
                    "\(d)/\(bad.file): shard \(bad.shard) \(bad.reason); rerun that part with \(.resume) "
                        + "to compute it again, then merge")
            }
            checks.append(c)
        }
        var header = checks[0].header
        header.part = nil
        for (d, c) in zip(dirs, checks).dropFirst() {
            var h = c.header
            h.part = nil
            if let diff = h.firstDifference(from: header) {
                let text = diff.replacingOccurrences(of: "journal has", with: "first part has")
                    .replacingOccurrences(of: "this run has", with: "this part has")
                throw FlowError(
                    "\(d) is not a part of the same run as \(dirs[0]) (\(text)); merge only parts run "
                        + "with identical flags (model digests included)")
            }
        }
        let commits = try coverage(dirs: dirs, checks: checks)
        try RunDirectory.checkOut(outDir)
        try PrivateFiles.makeDirectory(outDir)
        try RunDirectory.lock(outDir)
        guard !FileIO.exists(RunDirectory.journalPath(outDir)) else {
            throw FlowError("\(outDir) already holds a run (journal.log); choose another \(.out) or delete that run")
        }
        try PrivateFiles.makeDirectory(RunDirectory.latentsPath(outDir))
        var result = Result(header: header, summary: CoordinatorSummary(), workers: 0)
        for (d, c) in commits {
            let base = String(c.file.dropLast(4))
            for name in [c.file, base + ".labels.npy", base + ".json"] {
                let src = dirs[d] + "/" + name
                if name.hasSuffix(".json") && !FileIO.exists(src) { continue }  // advisory timings
                if try place(src, outDir + "/" + name) { result.linked += 1 } else { result.copied += 1 }
            }
        }
        FileIO.syncDirectory(of: outDir + "/" + Aggregator.latentsFile(shard: 0))
        if FileIO.exists(RunDirectory.promptsPath(dirs[0])) {
            try FileIO.writeAtomically(
                RunDirectory.promptsPath(outDir), try FileIO.read(RunDirectory.promptsPath(dirs[0])),
                durable: true)
        }
        try Journal.rewrite(RunDirectory.journalPath(outDir), header: header, commits: commits.map { $0.commit })
        let records = try dirs.compactMap { try RunPartRecord.read($0) }
        result.summary = RunPartRecord.mergedSummary(
            records: records, dirs: dirs, commits: commits,
            shardCount: commits.count)
        result.workers = records.reduce(0) { $0 + $1.workers }
        return result
    }

    /// Every shard of the layout exactly once across the parts, in shard order (part index, commit); the error
    /// names overlapping shards (a part given twice) or missing ones (a part not given or not finished).
    static func coverage(dirs: [String], checks: [RunIntegrity.Result]) throws -> [(dir: Int, commit: ShardCommit)] {
        let count = checks[0].shardCount
        var holder = [Int?](repeating: nil, count: count)
        var found: [ShardCommit?] = Array(repeating: nil, count: count)
        for (i, c) in checks.enumerated() {
            for s in c.intact {
                if let j = holder[s.shard] {
                    throw FlowError(
                        "shard \(s.shard) (samples \(s.first)..<\(s.first + s.count)) is in both "
                            + "\(dirs[j]) and \(dirs[i]): overlapping parts (the same part given twice, or parts of "
                            + "different N); give each part once")
                }
                holder[s.shard] = i
                found[s.shard] = s
            }
        }
        let missing = (0..<count).filter { holder[$0] == nil }
        if !missing.isEmpty {
            let list = missing.prefix(8).map(String.init).joined(separator: ", ") + (missing.count > 8 ? ", …" : "")
            var parts = ""
            let ns = Set(checks.compactMap { $0.header.part.flatMap { try? RunPart(parsing: $0) }?.count })
            if ns.count == 1, let n = ns.first {
                let idx = Set(missing.map { $0 % n }).sorted().map { "\($0)/\(n)" }
                parts = " (part \(idx.joined(separator: ", ")))"
            }
            throw FlowError(
                "gap: \(missing.count) of \(count) shards are in no part directory: shards \(list)"
                    + "\(parts); run or finish (\(.resume)) the missing part and merge again")
        }
        return (0..<count).map { (holder[$0]!, found[$0]!) }
    }

    /// Hard-links `src` to `dst` (true), or copies it when linking is impossible (another filesystem).
    static func place(_ src: String, _ dst: String) throws -> Bool {
        unlink(dst)
        if link(src, dst) == 0 { return true }
        try FileIO.writeAtomically(dst, try FileIO.read(src), durable: true)
        return false
    }
}
