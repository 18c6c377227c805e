import FlowCluster
import FlowMetrics
import FlowStats
import FlowTestSupport
import XCTest

/// The exposition text of `ClusterMetrics`, read back with an independent line parser and checked against values
/// computed here by hand (counts, cumulative bucket counts, sums).
final class ClusterMetricsTests: XCTestCase {
    func snapshot(shards: Int, samples: Int, alive: Int, requeues: Int, banned: Int, dropped: Int) -> RunSnapshot {
        var s = RunSnapshot()
        s.shardsTotal = 10
        s.samplesTotal = 160
        s.shardsCommitted = shards
        s.samplesCommitted = samples
        s.workersAlive = alive
        s.requeues = requeues
        s.bannedWorkers = banned
        s.droppedFrames = dropped
        return s
    }

    func testCountersAndGaugesFollowTheSnapshots() {
        let m = ClusterMetrics()
        m.observe(snapshot(shards: 0, samples: 0, alive: 0, requeues: 0, banned: 0, dropped: 0))
        m.observe(snapshot(shards: 3, samples: 48, alive: 2, requeues: 1, banned: 0, dropped: 4))
        m.observe(snapshot(shards: 7, samples: 112, alive: 3, requeues: 2, banned: 1, dropped: 4))
        // A lower value (never produced by a coordinator) must not make a counter go backwards.
        m.observe(snapshot(shards: 6, samples: 96, alive: 1, requeues: 2, banned: 1, dropped: 4))
        let text = String(decoding: m.exposition(), as: UTF8.self)
        let v = PlainHTTPClient.samples(text)
        XCTAssertEqual(v["flowturbo_shards_committed_total"], 7)
        XCTAssertEqual(v["flowturbo_samples_committed_total"], 112)
        XCTAssertEqual(v["flowturbo_requeues_total"], 2)
        XCTAssertEqual(v["flowturbo_banned_workers_total"], 1)
        XCTAssertEqual(v["flowturbo_dropped_frames_total"], 4)
        XCTAssertEqual(v["flowturbo_workers_alive"], 1, "a gauge shows the latest value")
        XCTAssertEqual(v["flowturbo_samples_total"], 160)
        XCTAssertEqual(v["flowturbo_shards"], 10)
        for counter in [
            "shards_committed_total", "samples_committed_total", "requeues_total", "banned_workers_total",
            "dropped_frames_total",
        ] {
            XCTAssertTrue(text.contains("# TYPE flowturbo_\(counter) counter\n"), counter)
        }
        XCTAssertTrue(text.contains("# TYPE flowturbo_workers_alive gauge\n"))
        XCTAssertTrue(text.contains("# HELP flowturbo_shards_committed_total "))
    }

    func testStageLatencyHistogramsHaveCumulativeBuckets() {
        let m = ClusterMetrics()
        let total: [Double] = [0.0003, 0.004, 0.004, 0.02, 0.7, 3, 45, 1000]
        for x in total { m.stageLatency(.total, seconds: x, count: 1) }
        m.stageLatency(.predictor, seconds: 0.03, count: 5)  // a shard's per-batch mean, five batches
        m.stageLatency(.refiner, seconds: .nan, count: 1)  // ignored
        let text = String(decoding: m.exposition(), as: UTF8.self)
        let v = PlainHTTPClient.samples(text)
        XCTAssertTrue(text.contains("# TYPE flowturbo_stage_latency_seconds histogram\n"))
        for le in ClusterMetrics.latencyBuckets {
            let key = "flowturbo_stage_latency_seconds_bucket{stage=\"total\",le=\"\(le)\"}"
            XCTAssertEqual(v[key], Double(total.filter { $0 <= le }.count), key)
            let predictor = "flowturbo_stage_latency_seconds_bucket{stage=\"predictor\",le=\"\(le)\"}"
            XCTAssertEqual(v[predictor], le >= 0.03 ? 5 : 0, predictor)
        }
        XCTAssertEqual(v["flowturbo_stage_latency_seconds_bucket{stage=\"total\",le=\"+Inf\"}"], 8)
        XCTAssertEqual(v["flowturbo_stage_latency_seconds_count{stage=\"total\"}"], 8)
        XCTAssertEqual(v["flowturbo_stage_latency_seconds_sum{stage=\"total\"}"]!, total.reduce(0, +), accuracy: 1e-9)
        XCTAssertEqual(v["flowturbo_stage_latency_seconds_count{stage=\"predictor\"}"], 5)
        XCTAssertEqual(v["flowturbo_stage_latency_seconds_count{stage=\"refiner\"}"], 0)
        // Every stage of the report has its series, named as in report.json.
        for stage in LatencyStage.allCases {
            XCTAssertNotNil(v["flowturbo_stage_latency_seconds_count{stage=\"\(stage.rawValue)\"}"], stage.rawValue)
        }
    }
}
