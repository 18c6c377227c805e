import FlowProto
import FlowStats
import FlowTensor
import Foundation

/// Group commit of shard results: one shard-log fsync for a batch instead of three fsyncs and three files per shard.
extension Aggregator {
    /// Most results in one group commit.
    public static let maxBatchShards = 1024
    /// Longest a batch collects results that are already waiting before it is committed (it never waits for
    /// results still to come: a lone result is committed at once, and results that arrive during one batch's fsync
    /// form the next). The added latency of a commit is thus at most this plus one fsync.
    public static let maxBatchMilliseconds = 20

    /// A validated result waiting for its group commit.
    struct Pending {
        var result: Flowturbo_V1_ShardResult
        var file: String
        var receivedUnixUs: Int64
        var entry: ShardLog.Entry
    }

    /// Makes `batch` durable (one shard-log append + fdatasync) and reports the shards to the coordinator, whose
    /// journal line is the commit point. The shard files are written later from the log (`ShardMaterializer`).
    func commit(_ batch: [Pending], push: ZMQSocket) {
        guard !batch.isEmpty else { return }
        do {
            try shardLog.append(batch.map { $0.entry })
        } catch {
            for p in batch { fail(p, error, push: push) }
            return
        }
        for p in batch {
            var c = Flowturbo_V1_ShardCommitted()
            c.shardID = UInt64(p.entry.shard)
            c.leaseID = p.result.leaseID
            c.file = p.file
            c.checksum = CRC32.hex(p.entry.latents)
            c.workerID = p.result.workerID
            var out = Flowturbo_V1_Envelope()
            out.committed = c
            do {
                try push.send(try out.serializedBytes())
            } catch {
                fail(p, error, push: push)
                continue
            }
            lock.lock()
            committedSet.insert(p.entry.shard)
            record(p.result, receivedUnixUs: p.receivedUnixUs)
            lock.unlock()
        }
        count { $0.commitBatches += 1 }
    }

    /// Nothing was journaled for this shard; stops the run with a clear error (a full disk does not get better by
    /// retrying on another worker). `--resume` continues once it is fixed.
    private func fail(_ p: Pending, _ error: Error, push: ZMQSocket) {
        count { $0.writeErrors += 1 }
        let message =
            "cannot write shard \(p.entry.shard) into \(outDir): \(error); the journal is intact — free "
            + "space (or fix the directory) and rerun with \(Setting.resume)"
        report(
            push, shard: p.entry.shard, lease: p.result.leaseID, worker: p.result.workerID, message: message,
            fatal: true)
    }

    /// Counts a committed result in the statistics (caller holds `lock`).
    private func record(_ r: Flowturbo_V1_ShardResult, receivedUnixUs: Int64) {
        _stats.committed += 1
        _stats.nfe += r.nfe.map { Int($0) }
        _stats.batchSeconds += r.batchSeconds
        _stats.predictorSeconds += r.timings.predictorSeconds
        _stats.refinerSeconds += r.timings.refinerSeconds
        _stats.solverSeconds += r.timings.solverSeconds
        for b in r.batchSeconds { recordLatency(.total, seconds: b, worker: r.workerID) }
        // 0: an older worker.
        if r.queueWaitSeconds > 0 { recordLatency(.queueWait, seconds: r.queueWaitSeconds) }
        // Prompt shards: one value per shard.
        if r.timings.textEncoderSeconds > 0 {
            recordLatency(.textEncoder, seconds: r.timings.textEncoderSeconds)
        }
        if r.finishedUnixUs > 0 {
            // Clock offset between hosts can make this negative; it then counts as 0 (1 µs).
            let us = receivedUnixUs.subtractingReportingOverflow(r.finishedUnixUs)
            if !us.overflow, Double(us.partialValue) <= Aggregator.maxPlausibleSeconds * 1e6 {
                recordLatency(.transfer, seconds: Double(max(0, us.partialValue)) / 1e6)
            }
        }
        if !r.batchTimings.isEmpty {
            // One value per batch, like `total`.
            for b in r.batchTimings {
                if b.predictorSeconds > 0 { recordLatency(.predictor, seconds: b.predictorSeconds) }
                if b.refinerSeconds > 0 { recordLatency(.refiner, seconds: b.refinerSeconds) }
                if b.solverSeconds > 0 { recordLatency(.solverUpdate, seconds: b.solverSeconds) }
            }
        } else {
            // A worker without per-batch stage times: the shard's per-batch means.
            let batches = max(1, r.batchSeconds.count)
            let stages: [(LatencyStage, Double)] = [
                (.predictor, r.timings.predictorSeconds), (.refiner, r.timings.refinerSeconds),
                (.solverUpdate, r.timings.solverSeconds),
            ]
            for (stage, total) in stages where total > 0 {
                recordLatency(stage, seconds: total / Double(batches), count: batches)
            }
        }
        let nfe = r.nfe.reduce(0) { $0 + Int($1) }
        _stats.latency.complete(samples: Int(r.count), at: Date().timeIntervalSince(started), nfe: nfe)
    }
}
