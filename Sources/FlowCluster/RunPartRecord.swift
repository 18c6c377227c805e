import FlowStats
import FlowTensor
import Foundation

/// `part.json`: what a finished part run knows beyond its shard files (worker count, wall time, cluster
/// counters and the latency recorder), so `flowturbo merge` can report the whole run.
public struct RunPartRecord: Codable {
    public var part: String
    public var workers: Int
    public var wallSeconds: Double
    public var shards: Int
    public var committedThisSession: Int
    public var assignments: Int
    public var requeues: Int
    public var latency: LatencyRecorder

    /// The record of a part session that ended with `summary`.
    public init(part: RunPart, summary: CoordinatorSummary, workers: Int) {
        self.part = part.description
        self.workers = workers
        wallSeconds = summary.elapsedSeconds
        shards = summary.shards
        committedThisSession = summary.committedThisSession
        assignments = summary.assignments
        requeues = summary.requeues
        latency = summary.aggregator.latency
    }

    /// Reads `dir/part.json` (nil when absent: the part was written by an older version).
    public static func read(_ dir: String) throws -> RunPartRecord? {
        let path = dir + "/" + RunMerge.partRecordFile
        guard FileIO.exists(path) else { return nil }
        do {
            return try JSONDecoder().decode(RunPartRecord.self, from: Data(try FileIO.read(path)))
        } catch {
            throw FlowError("\(path): unreadable part record (\(error)); rerun that part with \(.resume) to rewrite it")
        }
    }

    /// The summary of the merged run: counters summed, latency recorders merged, wall time the longest part
    /// (parts run side by side), NFE per sample from the shard files in index order.
    static func mergedSummary(
        records: [RunPartRecord], dirs: [String], commits: [(dir: Int, commit: ShardCommit)],
        shardCount: Int
    ) -> CoordinatorSummary {
        var s = CoordinatorSummary()
        s.completed = true
        s.shards = shardCount
        s.committedThisSession = shardCount
        for r in records {
            s.assignments += r.assignments
            s.requeues += r.requeues
            s.workersSeen += r.workers
            s.elapsedSeconds = max(s.elapsedSeconds, r.wallSeconds)
            s.aggregator.latency.merge(r.latency)
        }
        s.aggregator.committed = shardCount
        for (d, c) in commits {
            let meta = dirs[d] + "/" + String(c.file.dropLast(4)) + ".json"
            let obj = (try? JSONSerialization.jsonObject(with: Data(FileIO.read(meta)))) as? [String: Any]
            let nfe = obj?["nfe"] as? [Int] ?? []
            s.aggregator.nfe += nfe.count == c.count ? nfe : [Int](repeating: 0, count: c.count)
        }
        return s
    }
}
