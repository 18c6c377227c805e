import FlowProto
import Foundation
import XCTest

@testable import FlowCluster

/// The worker's protocol state machine without sockets or threads, on an injected clock.
final class WorkerSessionTests: XCTestCase {
    typealias S = WorkerSession
    let t0 = Date(timeIntervalSince1970: 2_000_000)

    func session(_ f: (inout WorkerConfig) -> Void = { _ in }) -> WorkerSession {
        var c = WorkerConfig(connect: "tcp://127.0.0.1:1", workerID: "w")
        f(&c)
        return WorkerSession(config: c, now: t0)
    }

    func welcome(port: UInt32 = 7000) -> Flowturbo_V1_Envelope.OneOf_Body {
        var w = Flowturbo_V1_Welcome()
        w.dataPort = port
        return .welcome(w)
    }

    func assignment(_ shard: UInt64) -> Flowturbo_V1_ShardAssignment {
        var a = Flowturbo_V1_ShardAssignment()
        a.shardID = shard
        a.leaseID = shard + 100
        return a
    }

    func t(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    /// hello → welcome (data connection, one work request) → assignment (start) → result → pushed (next request).
    func testHappyPathAsksOnceAndAgainAfterEachResult() {
        var s = session()
        XCTAssertEqual(s.start(), [.connect])
        XCTAssertEqual(s.received(welcome(), now: t0), [.connectData(port: 7000), .requestWork])
        XCTAssertEqual(s.received(welcome(), now: t0), [.connectData(port: 7000)], "already asked: no second request")
        XCTAssertEqual(s.received(.assignment(assignment(3)), now: t0), [.start(assignment(3))])
        XCTAssertTrue(s.computing)
        XCTAssertEqual(s.received(.assignment(assignment(4)), now: t0), [.refuseBusy(assignment(4))])
        s.computeFinished()
        XCTAssertFalse(s.computing)
        XCTAssertEqual(
            s.received(.assignment(assignment(5)), now: t0), [.refuseBusy(assignment(5))],
            "a result not yet handed off still makes the worker busy")
        XCTAssertEqual(s.pushed(), [.requestWork])
        XCTAssertEqual(s.received(.assignment(assignment(6)), now: t0), [.start(assignment(6))])
    }

    /// A failed shard is reported; a non-fatal failure asks for more work, a fatal one does not.
    func testFailuresAreReportedAndOnlyNonFatalOnesAskForMore() {
        var s = session()
        _ = s.received(welcome(), now: t0)
        _ = s.received(.assignment(assignment(1)), now: t0)
        var e = Flowturbo_V1_Error()
        e.message = "bad"
        XCTAssertEqual(s.computeFailed(e), [.report(e), .requestWork])
        _ = s.received(.assignment(assignment(2)), now: t0)
        e.fatal = true
        XCTAssertEqual(s.computeFailed(e), [.report(e)])
        XCTAssertEqual(s.rejected, 2)
    }

    /// Heartbeats every interval (busy while computing); after `liveness` silent intervals a reconnect, then
    /// again only after a backoff that doubles up to the maximum; a frame resets the backoff.
    func testHeartbeatsAndReconnectBackoffOnTheInjectedClock() {
        var s = session {
            $0.heartbeatIntervalMs = 1000
            $0.liveness = 3
            $0.reconnectInitialMs = 1000
            $0.reconnectMaxMs = 4000
            $0.giveUpSeconds = 60
        }
        _ = s.received(welcome(), now: t0)
        XCTAssertEqual(s.tick(now: t0), [.heartbeat(busy: false)])
        XCTAssertEqual(s.tick(now: t(0.5)), [], "no heartbeat before the interval")
        _ = s.received(.assignment(assignment(1)), now: t(0.5))
        XCTAssertEqual(s.tick(now: t(1.5)), [.heartbeat(busy: true)])
        var reconnects: [Double] = []
        var clock = 1.5
        while clock < 30 {
            clock += 0.25
            if s.tick(now: t(clock)).contains(.connect) { reconnects.append(clock) }
        }
        // Silent since 0.5 s: first reconnect once silent > 3 s, then after 1, 2, 4, 4 … s.
        XCTAssertEqual(Array(reconnects.prefix(5)), [3.75, 4.75, 6.75, 10.75, 14.75])
        XCTAssertFalse(s.welcomed, "a reconnect waits for a new Welcome")
        XCTAssertEqual(s.reconnects, reconnects.count)
        s.heard(now: t(30))
        XCTAssertEqual(s.tick(now: t(33)).filter { $0 == .connect }.count, 0)
        XCTAssertEqual(s.tick(now: t(33.25)), [.connect], "silent > 3 s again")
        XCTAssertFalse(s.tick(now: t(34)).contains(.connect), "the backoff restarted at 1 s")
        XCTAssertTrue(s.tick(now: t(34.25)).contains(.connect))
    }

    /// No frame for `giveUpSeconds`: give up.
    func testGiveUpAfterSilence() {
        var s = session { $0.giveUpSeconds = 10 }
        XCTAssertFalse(s.tick(now: t(10)).contains(.giveUp(silentSeconds: 10)))
        XCTAssertEqual(s.tick(now: t(10.5)).last, .giveUp(silentSeconds: 10.5))
    }

    /// NoWork with retry 0 (the coordinator forgot us): hello again; Shutdown ends the session.
    func testNoWorkBeforeWelcomeReconnectsAndShutdownFinishes() {
        var s = session()
        _ = s.received(welcome(), now: t0)
        var n = Flowturbo_V1_NoWork()
        n.retryAfterMs = 500
        XCTAssertEqual(s.received(.noWork(n), now: t0), [])
        n.retryAfterMs = 0
        XCTAssertEqual(s.received(.noWork(n), now: t0), [.connect])
        XCTAssertFalse(s.welcomed)
        XCTAssertEqual(s.received(welcome(), now: t0), [.connectData(port: 7000), .requestWork])
        var bye = Flowturbo_V1_Shutdown()
        bye.reason = "banned"
        bye.refused = true
        XCTAssertEqual(s.received(.shutdown(bye), now: t0), [.finish(reason: "banned", refused: true)])
    }
}
