import FlowProto
import Foundation
import XCTest

@testable import FlowCluster
@testable import FlowFuzz

/// The aggregator on its own: results with untrusted timings are dropped and counted (never a trap), and
/// per-batch stage times land in the stage histograms one value per batch.
final class AggregatorTests: XCTestCase {
    func testImplausibleTimingsAreDroppedAndPerBatchStagesRecorded() throws {
        let dir = NSTemporaryDirectory() + "agg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let evalSet = FuzzCorpus.evalSet(samples: 24)
        let size = FuzzCorpus.shardSize
        let shards = (0..<3).map { ($0 * size)..<min(($0 + 1) * size, 24) }
        let context = try ZMQContext()
        let commits = try context.socket(.pull)
        try commits.bind("inproc://agg-test-commits")
        let book = LeaseBook()
        let leases = (0..<3).map { book.issue(shard: $0, holder: [UInt8($0)], key: nil) }
        let agg = try Aggregator(
            context: context, dataBind: "tcp://127.0.0.1:0", outDir: dir, sampleShape: FuzzCorpus.sampleShape,
            shards: shards, alreadyCommitted: [], commitEndpoint: "inproc://agg-test-commits", leases: book,
            maxMessageBytes: 1 << 24, expectedLabels: { evalSet.labels(first: $0.lowerBound, count: $0.count) })
        try agg.start()
        let push = try context.socket(.push)
        try push.setLinger(0)
        try push.connect("tcp://127.0.0.1:\(agg.port)")
        func send(_ r: Flowturbo_V1_ShardResult) throws {
            var e = Flowturbo_V1_Envelope()
            e.result = r
            let lease = leases[Int(r.shardID)]
            e.result.leaseID = lease.id
            e.result.leaseToken = Data(lease.token)
            try push.send([try e.serializedBytes()])
        }
        func stage(_ p: Double, _ r: Double, _ s: Double) -> Flowturbo_V1_StageTimings {
            var t = Flowturbo_V1_StageTimings()
            t.predictorSeconds = p
            t.refinerSeconds = r
            t.solverSeconds = s
            return t
        }
        // Malformed timings, each on an otherwise valid result for shard 0.
        var bad: [Flowturbo_V1_ShardResult] = []
        var r = FuzzCorpus.result(shard: 0, evalSet: evalSet)
        r.batchSeconds = [1e30]
        bad.append(r)
        r = FuzzCorpus.result(shard: 0, evalSet: evalSet)
        r.batchSeconds = [.nan]
        bad.append(r)
        r = FuzzCorpus.result(shard: 0, evalSet: evalSet)
        r.timings.predictorSeconds = .infinity
        bad.append(r)
        r = FuzzCorpus.result(shard: 0, evalSet: evalSet)
        r.timings.solverSeconds = -1
        bad.append(r)
        r = FuzzCorpus.result(shard: 0, evalSet: evalSet)
        r.batchSeconds = [Double](repeating: 0.01, count: size + 1)
        bad.append(r)
        r = FuzzCorpus.result(shard: 0, evalSet: evalSet)
        r.batchTimings = [stage(0.01, 0, 0), stage(0.01, 0, 0)]
        bad.append(r)  // 2 ≠ 1 batch
        r = FuzzCorpus.result(shard: 0, evalSet: evalSet)
        r.batchTimings = [stage(1e300, 0, 0)]
        bad.append(r)
        r = FuzzCorpus.result(shard: 0, evalSet: evalSet)
        r.queueWaitSeconds = .nan
        bad.append(r)
        for b in bad { try send(b) }
        // Valid: shard 1 with four batches and per-batch stage times; shard 2 from an older worker (sums only).
        r = FuzzCorpus.result(shard: 1, evalSet: evalSet)
        r.batchSeconds = [0.010, 0.020, 0.030, 0.040]
        r.batchTimings = [
            stage(0.008, 0.001, 0.001), stage(0.016, 0.002, 0.002), stage(0.024, 0.003, 0.003),
            stage(0.032, 0.004, 0.004),
        ]
        r.queueWaitSeconds = 0.25
        r.finishedUnixUs = Int64((Date().timeIntervalSince1970 - 0.2) * 1e6)  // finished 200 ms before sending
        try send(r)
        r = FuzzCorpus.result(shard: 2, evalSet: evalSet)
        r.batchTimings = []
        r.batchSeconds = [0.05, 0.05]
        r.timings.predictorSeconds = 0.08
        r.timings.solverSeconds = 0.02
        try send(r)
        let deadline = Date().addingTimeInterval(20)
        while agg.stats.committed + agg.stats.dropped < bad.count + 2 && Date() < deadline { usleep(10_000) }
        agg.stop()
        let st = agg.stats
        XCTAssertEqual(st.dropped, bad.count, "every result with implausible timings is dropped and counted")
        XCTAssertEqual(st.committed, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/" + Aggregator.latentsFile(shard: 0)))
        let pred = try XCTUnwrap(st.latency.stages[.predictor])
        XCTAssertEqual(pred.totalCount, 4 + 2, "four per-batch values from shard 1, the mean twice from shard 2")
        XCTAssertEqual(Double(pred.max) / 1000, 40, accuracy: 0.1, "max predictor 32 ms per batch or 40 ms mean")
        XCTAssertEqual(
            Double(pred.min) / 1000, 8, accuracy: 0.05, "smallest per-batch predictor time kept, not averaged away")
        XCTAssertEqual(st.latency.stages[.total]?.totalCount, 6)
        // queue_wait and transfer: one value per shard that reports them (shard 2 plays an older worker: none).
        let qw = try XCTUnwrap(st.latency.stages[.queueWait])
        XCTAssertEqual(qw.totalCount, 1)
        XCTAssertEqual(Double(qw.max) / 1e6, 0.25, accuracy: 0.001)
        let tr = try XCTUnwrap(st.latency.stages[.transfer])
        XCTAssertEqual(tr.totalCount, 1)
        XCTAssertGreaterThanOrEqual(Double(tr.min) / 1e6, 0.199, "receipt is at least 200 ms after the stated finish")
        XCTAssertLessThan(Double(tr.max) / 1e6, 10, "and not absurdly later")
        commits.close()
        push.close()
    }
}
