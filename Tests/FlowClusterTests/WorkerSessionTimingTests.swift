import FlowProto
import Foundation
import XCTest

@testable import FlowCluster

/// The heartbeat contract of the Welcome (`--heartbeat-ms`/`--liveness` of the coordinator): after it, a worker
/// heartbeats at the shorter of its own and the coordinator's interval and reconnects only once both liveness
/// windows have passed. Checked on the injected clock by counting the session's own actions.
final class WorkerSessionTimingTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 3_000_000)

    /// A worker with a 1 s interval and liveness 3, welcomed at `t0` by a coordinator with `ms`/`liveness`.
    func welcomed(ms: UInt32, liveness: UInt32) -> WorkerSession {
        var c = WorkerConfig(connect: "tcp://127.0.0.1:1", workerID: "w")
        c.heartbeatIntervalMs = 1000
        c.liveness = 3
        c.giveUpSeconds = 600
        var s = WorkerSession(config: c, now: t0)
        var w = Flowturbo_V1_Welcome()
        w.dataPort = 7000
        w.heartbeatIntervalMs = ms
        w.liveness = liveness
        _ = s.received(.welcome(w), now: t0)
        return s
    }

    /// Heartbeat times and the first reconnect time over `seconds` of coordinator silence, ticking every 10 ms.
    func run(_ s: inout WorkerSession, seconds: Double) -> (beats: [Double], reconnect: Double?) {
        var beats: [Double] = []
        var reconnect: Double?
        for i in 0...Int(seconds * 100) {
            let now = Double(i) / 100
            let actions = s.tick(now: t0.addingTimeInterval(now))
            if actions.contains(.heartbeat(busy: false)) { beats.append(now) }
            if reconnect == nil && actions.contains(.connect) { reconnect = now }
        }
        return (beats, reconnect)
    }

    func testAShorterCoordinatorIntervalIsAdoptedAndTheWorkersOwnWindowStays() {
        var s = welcomed(ms: 250, liveness: 2)
        let (beats, reconnect) = run(&s, seconds: 2.5)
        // Every 0.25 s from 0: 0, 0.25, …, 2.5 (11 beats); the own 1 s interval would give 3.
        XCTAssertEqual(beats.count, 11, "\(beats)")
        XCTAssertNil(reconnect, "silence limit is max(1 s × 3, 0.25 s × 2) = 3 s")
        let later = run(&s, seconds: 3.05).reconnect
        XCTAssertEqual(try XCTUnwrap(later), 3.01, accuracy: 1e-6, "first tick past 3 s of silence")
    }

    func testALongerCoordinatorIntervalKeepsTheOwnBeatAndWaitsForItsWindow() {
        var s = welcomed(ms: 5000, liveness: 3)
        let (beats, reconnect) = run(&s, seconds: 15.5)
        XCTAssertEqual(beats.count, 16, "own 1 s interval: 0, 1, …, 15")
        XCTAssertEqual(try XCTUnwrap(reconnect), 15.01, accuracy: 1e-6, "5 s × 3 = 15 s, not the own 3 s")
    }

    func testAWelcomeWithoutAnIntervalKeepsTheWorkersOwnTiming() {
        var s = welcomed(ms: 0, liveness: 0)
        let (beats, reconnect) = run(&s, seconds: 3.5)
        XCTAssertEqual(beats.count, 4)
        XCTAssertEqual(try XCTUnwrap(reconnect), 3.01, accuracy: 1e-6)
    }
}
