import FlowTensor
import Foundation
import XCTest

@testable import FlowCluster

/// A short simulated-scale run: simulated workers speaking the real protocol get leases, heartbeats and commits
/// from one real coordinator, and everything the coordinator journaled is intact on disk.
final class ControlPlaneBenchTests: XCTestCase {
    func testSimulatedFleetAgainstOneCoordinator() throws {
        let dir = NSTemporaryDirectory() + "cp-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = ControlPlaneBench.Options()
        o.shardSeconds = 0.2
        o.warmupSeconds = 1
        o.seconds = 2
        o.heartbeatIntervalMs = 200
        let workers = 40
        let l = try ControlPlaneBench.run(workers: workers, options: o, dir: dir)
        XCTAssertEqual(l.refused, 0)
        XCTAssertGreaterThan(l.completionsPerSecond, 0)
        XCTAssertLessThanOrEqual(
            l.completionsPerSecond, l.offeredPerSecond * 1.2, "workers cannot beat their compute time")
        XCTAssertGreaterThan(l.leaseP50Ms, 0)
        XCTAssertLessThanOrEqual(l.leaseP50Ms, l.leaseP99Ms)
        // Coordinator heartbeats arrive about once per interval (never much faster).
        XCTAssertGreaterThanOrEqual(l.heartbeatGapP50Ms, 0.8 * Double(o.heartbeatIntervalMs))
        XCTAssertGreaterThan(l.commitBatches, 0)
        // Independent check of what was written: every journaled shard verifies (CRC, shape, labels), and holds the
        // value the simulated worker computed (its first index).
        let r = try RunIntegrity.check(outDir: dir)
        XCTAssertEqual(r.damaged, [])
        XCTAssertGreaterThan(r.intact.count, 0)
        for c in r.intact.prefix(20) {
            let a = try NPY.read(dir + "/" + c.file)
            XCTAssertEqual(a.shape, [1, 1])
            XCTAssertEqual(a.floats(), [Float(c.first)])
        }
        XCTAssertEqual(ShardLog.segments(outDir: dir), [], "a stopped run has no shard log left")
    }
}
