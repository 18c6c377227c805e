import FlowStats
import FlowTensor
import Foundation

/// What a finished run leaves next to its latents: `manifest.json`, `report.json`/`report.md`,
/// and on request one `samples.npz`.
///
/// Everything is derived from the journal (the authority on what is committed) and the shard
/// files, so it is identical after any kill + resume.
public enum RunOutput {
    /// Extra quality figures for a report from every sample (float32, flattened), its requested label and the
    /// sample shape: JSON keys merged into report.json and a Markdown section (e.g. `class_agreement`).
    public typealias QualityScorer = (_ samples: [Float], _ labels: [Int32], _ sampleShape: [Int]) throws
        -> (json: [String: Any], markdown: String)

    /// Loads every committed shard in index order: latents (float32 bytes), labels, sample shape.
    /// Verifies every shard first (`RunIntegrity`: confined path, latents CRC, labels) and names the first damage.
    public static func loadAll(
        outDir: String
    ) throws -> (header: RunHeader, commits: [ShardCommit], latents: [UInt8], labels: [Int32], sampleShape: [Int]) {
        let check = try RunIntegrity.check(outDir: outDir)
        if let d = check.damaged.first {
            throw FlowError(
                "\(outDir)/\(d.file): shard \(d.shard) \(d.reason); rerun with \(.resume) to compute "
                    + "it again (`flowturbo verify \(outDir)` lists all damage)")
        }
        var latents: [UInt8] = []
        var labels: [Int32] = []
        var shape: [Int] = []
        for c in check.intact {
            let path = outDir + "/" + c.file
            let a = try NPY.decode(try FileIO.read(path), source: path)
            shape = Array(a.shape.dropFirst())
            latents += a.bytes
            let l = try NPY.read(outDir + "/" + RunIntegrity.labelsFile(shard: c.shard))
            labels += try l.int64s().map { Int32(truncatingIfNeeded: $0) }
        }
        return (check.header, check.intact, latents, labels, shape)
    }

    /// Writes `manifest.json`: run header, sample shape and one entry per intact shard (index range, files,
    /// CRCs of latents and labels). `complete` is true only when every sample is in a verified shard;
    /// `damaged_shards` lists what a `--resume` would compute again.
    public static func writeManifest(outDir: String) throws {
        let check = try RunIntegrity.check(outDir: outDir)
        let shards: [[String: Any]] = try check.intact.map {
            let labels = RunIntegrity.labelsFile(shard: $0.shard)
            return [
                "shard": $0.shard, "first": $0.first, "count": $0.count, "end": $0.first + $0.count,
                "file": $0.file,
                "labels": labels, "labels_crc32": CRC32.hex(try FileIO.read(outDir + "/" + labels)),
                "crc32": $0.checksum, "worker": $0.worker,
            ]
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let headerObj = try JSONSerialization.jsonObject(with: enc.encode(check.header))
        let damaged: [[String: Any]] = check.damaged.map { ["shard": $0.shard, "reason": $0.reason] }
        let manifest: [String: Any] = [
            "run": headerObj, "shards": shards, "damaged_shards": damaged,
            "samples_committed": check.samplesIntact, "complete": check.complete,
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .prettyPrinted])
        try FileIO.writeAtomically(RunDirectory.manifestPath(outDir), Array(data), durable: true)
    }

    /// Writes `samples.npz` with `arr_0` (float32 `[N, …]`) and `labels` (int64), loadable by `numpy.load`.
    public static func exportNPZ(outDir: String, path: String? = nil) throws -> String {
        let all = try loadAll(outDir: outDir)
        let n = all.labels.count
        let out = path ?? RunDirectory.samplesNPZPath(outDir)
        let labels = all.labels.map { Int64($0) }
        try NPZ.write(
            out,
            arrays: [
                (name: "arr_0", array: NPYArray(dtype: .float32, shape: [n] + all.sampleShape, bytes: all.latents)),
                (
                    name: "labels",
                    array: NPYArray(dtype: .int64, shape: [n], bytes: labels.withUnsafeBytes { Array($0) })
                ),
            ], durable: true)
        return out
    }

    /// Builds and writes the report through FlowStats' `Report` (report.json, report.md, latency,
    /// throughput and sample-grid PNGs), adding a `cluster` section (shards, requeues, dropped frames…)
    /// and, with `reference` (a FlowStats stats file), the metrics against it. Returns the Markdown.
    ///
    /// `features` maps both sets into the metric space before the comparison (generated samples, then the
    /// reference; each with its path for errors); `featureName` names that space in report.json (`features`).
    @discardableResult
    public static func writeReport(
        outDir: String, summary: CoordinatorSummary, workers: Int, reference: String? = nil,
        featureName: String = "raw",
        features: ((StatsSet, String) throws -> StatsSet)? = nil,
        quality: QualityScorer? = nil
    ) throws -> String {
        let all = try loadAll(outDir: outDir)
        let n = all.labels.count
        let d = all.sampleShape.reduce(1, *)
        let floats: [Float] = all.latents.withUnsafeBytes { raw in
            (0..<(n * d)).map {
                Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian)
            }
        }
        var sum = 0.0
        var sumSq = 0.0
        for v in floats {
            sum += Double(v)
            sumSq += Double(v) * Double(v)
        }
        let count = Double(max(1, n * d))
        let mean = sum / count
        let std = (max(0, sumSq / count - mean * mean)).squareRoot()
        let agg = summary.aggregator
        var input = ReportInput(
            samples: agg.nfe.count, workers: workers, plan: all.header.plan,
            wallSeconds: summary.elapsedSeconds, latency: agg.latency)
        if all.sampleShape.count == 3, [1, 3].contains(all.sampleShape[0]), n > 0 {
            let k = min(n, 64)
            input.grid = Tensor(shape: [k] + all.sampleShape, data: Array(floats[0..<(k * d)]))
        }
        if let ref = reference {
            var generated = try StatsSet(samples: floats, dimension: d, labels: all.labels, source: outDir)
            var refSet = try StatsSet.load(ref)
            if let map = features {
                generated = try map(generated, outDir)
                refSet = try map(refSet, ref)
            }
            input.metrics = try Evaluation.compare(generated: generated, reference: refSet)
        }
        input.extra = [
            "models": all.header.models.joined(separator: ", "), "seed": String(all.header.seed),
            "batch": String(all.header.batch), "samples_total": String(n),
            "guidance": String(all.header.guidanceScale), "refiner_step": all.header.refinerStep ?? "heun",
        ]
        let scored = try quality.map { try $0(floats, all.labels, all.sampleShape) }
        let promptSection = try PromptIndex.reportSection(outDir: outDir, header: all.header)
        try Report.write(input, to: outDir)
        var json = Report.json(input)
        for (k, v) in scored?.json ?? [:] { json[k] = v }
        for (k, v) in promptSection?.json ?? [:] { json[k] = v }
        let cluster: [String: Any] = [
            "shards": summary.shards, "resumed_shards": summary.resumedShards,
            "committed_this_session": summary.committedThisSession, "assignments": summary.assignments,
            "requeues": summary.requeues, "duplicate_results": agg.duplicates + summary.duplicateCommits,
            "dropped_frames": summary.droppedFrames + agg.dropped, "rejected_connections": summary.rejectedConnections,
            "oversized_frames": summary.oversizedFrames, "disconnects": summary.disconnects,
            "workers_seen": summary.workersSeen, "worker_errors": summary.workerErrors,
            "auth_rejected": summary.authRejected, "nonfinite_shards": summary.nonFiniteShards,
            "nonfinite_shard_ids": summary.nonFiniteShardIDs, "banned_workers": summary.bannedWorkers,
            "refused_workers": summary.refusedWorkers, "ignored_errors": summary.ignoredErrors,
            "forged_results": agg.forged,
            "audit_selected": summary.auditSelected, "audit_confirmed": summary.auditConfirmed,
            "audit_conflicts": summary.auditConflicts, "backup_leases": summary.backupLeases,
        ]
        json["cluster"] = cluster
        json["complete"] = n == all.header.samples
        json["samples_total"] = n
        json["sample_shape"] = all.sampleShape
        json["latents"] = ["mean": mean, "std": std]
        if let ref = reference {
            json["reference"] = ref
            json["features"] = featureName
        }
        try FileIO.writeAtomically(
            RunDirectory.reportJSONPath(outDir), Array((try Report.serialize(json) + "\n").utf8), durable: true)
        let md =
            Report.markdown(input) + (scored?.markdown ?? "") + (promptSection?.markdown ?? "") + """

                ## Cluster

                | field | value |
                |---|---|
                | samples in run directory | \(n) of \(all.header.samples) (\(all.sampleShape.map(String.init).joined(separator: "×")) each) |
                | shards (resumed / committed now) | \(summary.shards) (\(summary.resumedShards) / \(summary.committedThisSession)) |
                | assignments / requeues / duplicates | \(summary.assignments) / \(summary.requeues) / \(agg.duplicates + summary.duplicateCommits) |
                | dropped / oversized frames | \(summary.droppedFrames + agg.dropped) / \(summary.oversizedFrames) |
                | rejected connections / disconnects | \(summary.rejectedConnections) / \(summary.disconnects) |
                | auth rejected / NaN-Inf shards re-run / banned workers | \(summary.authRejected) / \(summary.nonFiniteShards) / \(summary.bannedWorkers) |
                | latents mean / std | \(String(format: "%.4f / %.4f", mean, std)) |

                """
        try FileIO.writeAtomically(RunDirectory.reportMarkdownPath(outDir), Array(md.utf8), durable: true)
        return md
    }
}
