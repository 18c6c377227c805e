import FlowProto
import Foundation
import XCTest

@testable import FlowCluster
@testable import FlowFuzz

/// `--heartbeat-ms` / `--liveness`: a worker that holds a lease and goes silent is presumed dead after
/// heartbeat × liveness, and its shard goes to another worker; a small liveness window makes that happen sooner.
final class LivenessTests: XCTestCase {
    /// Seconds from a silent worker's lease of the run's only shard until a second, heartbeating worker is given it.
    func requeueDelay(heartbeatMs: Int, liveness: Int) throws -> Double? {
        let d = trustTempDir("liveness")
        defer { try? FileManager.default.removeItem(atPath: d) }
        var config = loopbackConfig(d, samples: FuzzCorpus.shardSize)  // one shard
        config.heartbeatIntervalMs = heartbeatMs
        config.liveness = liveness
        let context = try ZMQContext()
        let live = try LiveCoordinator(config, context: context)
        let stalled = try peer(live, context, "stalled")
        defer { stalled.close() }
        acquire(stalled, 1)
        XCTAssertEqual(stalled.assignments.count, 1, "the first worker holds the only shard")
        let leased = Date()
        let other = try peer(live, context, "other")
        defer { other.close() }
        other.hello()
        var asked = false
        var delay: Double?
        while delay == nil && Date().timeIntervalSince(leased) < 10 {
            let fresh = other.poll(timeoutMs: 10)
            // Heartbeats every 10 ms keep this worker alive under any window the flags allow.
            other.send { $0.heartbeat.workerID = "other" }
            if other.welcomed && !asked {
                other.requestWork()
                asked = true
            }
            if let a = fresh.first {
                delay = Date().timeIntervalSince(leased)
                XCTAssertEqual(a.shardID, stalled.assignments[0].shardID)
                other.pushResult(other.answer(a, evalSet: config.evalSet))
            }
        }
        let deadline = Date().addingTimeInterval(10)
        while !live.finished() && Date() < deadline {
            other.poll(timeoutMs: 10)
            other.send { $0.heartbeat.workerID = "other" }
        }
        XCTAssertEqual(live.summary?.completed, true, "the second worker's result completes the run")
        XCTAssertEqual(live.summary?.requeues, 1)
        return delay
    }

    func testSmallLivenessRequeuesAStalledWorkersShardSooner() throws {
        let quick = try XCTUnwrap(try requeueDelay(heartbeatMs: 100, liveness: 2), "never requeued")
        let standard = try XCTUnwrap(try requeueDelay(heartbeatMs: 1000, liveness: 3), "never requeued")
        // 100 ms × 2 = 0.2 s (plus up to one heartbeat tick and scheduling); the default 1 s × 3 = 3 s.
        XCTAssertLessThan(quick, 1.5, "heartbeat 100 ms × liveness 2")
        XCTAssertGreaterThan(standard, 2.5, "heartbeat 1 s × liveness 3 must not requeue early")
        XCTAssertLessThan(quick, standard)
    }
}
