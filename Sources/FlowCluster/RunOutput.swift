import FlowTensor
import Foundation

/// What a finished run leaves next to its latents: `manifest.json`, `report.json`/`report.md`,
/// and on request one `samples.npz`.
///
/// Everything is derived from the journal (the authority on what is committed) and the shard
/// files, so it is identical after any kill + resume.
public enum RunOutput {
    /// Loads every committed shard in index order: latents (float32 bytes), labels, sample shape.
    /// Verifies each file's CRC against the journal.
    public static func loadAll(outDir: String) throws -> (header: RunHeader, commits: [ShardCommit], latents: [UInt8], labels: [Int32], sampleShape: [Int]) {
        let (header, raw, _, _) = try Journal.read(outDir + "/journal.log")
        var seen = Set<Int>()
        let commits = raw.filter { seen.insert($0.shard).inserted }.sorted { $0.first < $1.first }
        var latents: [UInt8] = [], labels: [Int32] = [], shape: [Int] = []
        for c in commits {
            let path = outDir + "/" + c.file
            let bytes = try FileIO.read(path)
            guard CRC32.hex(bytes) == c.checksum else {
                throw FlowError("\(path): checksum \(CRC32.hex(bytes)) != journal \(c.checksum); the file was modified — delete it and --resume to recompute")
            }
            let a = try NPY.decode(bytes, source: path)
            guard a.dtype == .float32, a.shape.first == c.count else { throw FlowError("\(path): expected float32 with \(c.count) rows") }
            shape = Array(a.shape.dropFirst())
            latents += a.bytes
            let l = try NPY.read(String(path.dropLast(4)) + ".labels.npy")
            labels += try l.int64s().map { Int32($0) }
        }
        return (header, commits, latents, labels, shape)
    }

    /// Writes `manifest.json`: run header, sample shape and one entry per shard (index range, files, CRC).
    public static func writeManifest(outDir: String) throws {
        let (header, raw, _, _) = try Journal.read(outDir + "/journal.log")
        var seen = Set<Int>()
        let commits = raw.filter { seen.insert($0.shard).inserted }.sorted { $0.first < $1.first }
        let shards: [[String: Any]] = commits.map {
            ["shard": $0.shard, "first": $0.first, "count": $0.count, "end": $0.first + $0.count, "file": $0.file,
             "labels": String($0.file.dropLast(4)) + ".labels.npy", "crc32": $0.checksum, "worker": $0.worker]
        }
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
        let headerObj = try JSONSerialization.jsonObject(with: enc.encode(header))
        let manifest: [String: Any] = ["run": headerObj, "shards": shards,
                                       "samples_committed": commits.reduce(0) { $0 + $1.count }, "complete": commits.reduce(0) { $0 + $1.count } == header.samples]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .prettyPrinted])
        try FileIO.writeAtomically(outDir + "/manifest.json", Array(data), durable: true)
    }

    /// Writes `samples.npz` with `arr_0` (float32 `[N, …]`) and `labels` (int64), loadable by `numpy.load`.
    public static func exportNPZ(outDir: String, path: String? = nil) throws -> String {
        let all = try loadAll(outDir: outDir)
        let n = all.labels.count
        let out = path ?? outDir + "/samples.npz"
        let labels = all.labels.map { Int64($0) }
        try NPZ.write(out, arrays: [
            (name: "arr_0", array: NPYArray(dtype: .float32, shape: [n] + all.sampleShape, bytes: all.latents)),
            (name: "labels", array: NPYArray(dtype: .int64, shape: [n], bytes: labels.withUnsafeBytes { Array($0) })),
        ], durable: true)
        return out
    }

    /// Builds and writes `report.json` and `report.md`: throughput, latency percentiles, NFE,
    /// stage timings, per-class latent moments, control-plane counters. Returns the Markdown.
    @discardableResult
    public static func writeReport(outDir: String, summary: CoordinatorSummary, workers: Int) throws -> String {
        let all = try loadAll(outDir: outDir)
        let n = all.labels.count
        let d = all.sampleShape.reduce(1, *)
        // Moments of the latents in float64 (overall mean/std per sample and of all values).
        var sum = 0.0, sumSq = 0.0
        all.latents.withUnsafeBytes { raw in
            for i in 0..<(n * d) {
                let v = Double(Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian))
                sum += v; sumSq += v * v
            }
        }
        let count = Double(max(1, n * d))
        let mean = sum / count
        let std = (max(0, sumSq / count - mean * mean)).squareRoot()
        let agg = summary.aggregator
        let lat = agg.batchSeconds.sorted()
        func pct(_ p: Double) -> Double { lat.isEmpty ? 0 : lat[min(lat.count - 1, Int((p / 100) * Double(lat.count - 1) + 0.5))] }
        let nfeMean = agg.nfe.isEmpty ? 0 : Double(agg.nfe.reduce(0, +)) / Double(agg.nfe.count)
        let computed = agg.nfe.count
        let rate = summary.elapsedSeconds > 0 ? Double(computed) / summary.elapsedSeconds : 0
        let report: [String: Any] = [
            "samples": n, "sample_shape": all.sampleShape, "plan": all.header.plan, "batch": all.header.batch,
            "seed": all.header.seed, "models": all.header.models, "workers": workers,
            "complete": n == all.header.samples,
            "throughput": ["samples_computed_this_session": computed, "elapsed_seconds": summary.elapsedSeconds,
                           "samples_per_second": rate],
            "latency_per_batch_seconds": ["p50": pct(50), "p90": pct(90), "p99": pct(99), "max": lat.last ?? 0, "batches": lat.count],
            "nfe_per_sample_mean": nfeMean,
            "stage_seconds": ["predictor": agg.predictorSeconds, "refiner": agg.refinerSeconds, "solver": agg.solverSeconds],
            "latents": ["mean": mean, "std": std],
            "cluster": ["shards": summary.shards, "resumed_shards": summary.resumedShards,
                        "committed_this_session": summary.committedThisSession, "assignments": summary.assignments,
                        "requeues": summary.requeues, "duplicate_results": agg.duplicates + summary.duplicateCommits,
                        "dropped_frames": summary.droppedFrames + agg.dropped,
                        "rejected_connections": summary.rejectedConnections, "oversized_frames": summary.oversizedFrames,
                        "disconnects": summary.disconnects, "workers_seen": summary.workersSeen,
                        "worker_errors": summary.workerErrors],
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
        try FileIO.writeAtomically(outDir + "/report.json", Array(data), durable: true)
        let md = """
        # flowturbo run report

        | | |
        |---|---|
        | samples | \(n) (\(all.sampleShape.map(String.init).joined(separator: "×")) each), complete: \(n == all.header.samples) |
        | plan / batch / seed | \(all.header.plan) / \(all.header.batch) / \(all.header.seed) |
        | models | \(all.header.models.joined(separator: ", ")) |
        | workers | \(workers) |
        | throughput | \(String(format: "%.1f", rate)) samples/s (\(computed) computed in \(String(format: "%.2f", summary.elapsedSeconds)) s) |
        | batch latency p50 / p90 / p99 | \(String(format: "%.4f / %.4f / %.4f", pct(50), pct(90), pct(99))) s |
        | NFE per sample (mean) | \(String(format: "%.2f", nfeMean)) |
        | latents mean / std | \(String(format: "%.4f / %.4f", mean, std)) |
        | shards (resumed / committed now) | \(summary.shards) (\(summary.resumedShards) / \(summary.committedThisSession)) |
        | requeues / duplicates | \(summary.requeues) / \(agg.duplicates + summary.duplicateCommits) |
        | dropped / oversized frames, rejected connections | \(summary.droppedFrames + agg.dropped) / \(summary.oversizedFrames), \(summary.rejectedConnections) |

        """
        try FileIO.writeAtomically(outDir + "/report.md", Array(md.utf8), durable: true)
        return md
    }
}
