import Foundation
import XCTest

@testable import FlowCluster

/// The actor primitive (thread + inproc PAIR pipe) and per-run stop tokens.
final class ActorTests: XCTestCase {
    /// Messages travel both ways over the pipe; `stop()` delivers the terminate message and joins the thread
    /// (the body has returned when `stop()` returns); a second `stop()` does nothing.
    func testPipeCarriesMessagesAndStopJoins() throws {
        let context = try ZMQContext()
        let returned = NSLock()
        var bodyReturned = false
        let actor = try ZMQActor(context: context, name: "echo") { pipe in
            while let frames = try? pipe.receive() {
                if frames.first == ZMQActor.terminate { break }
                try? pipe.send(frames.map { $0.reversed() })
            }
            usleep(50_000)  // a slow shutdown: stop() must still wait for it
            returned.lock()
            bodyReturned = true
            returned.unlock()
        }
        try actor.pipe.send([[1, 2, 3], [4]])
        XCTAssertEqual(try actor.pipe.receive(), [[3, 2, 1], [4]])
        actor.stop()
        returned.lock()
        XCTAssertTrue(bodyReturned, "stop() returned before the body did")
        returned.unlock()
        actor.stop()
    }

    /// A body that returns on its own: `stop()` still returns at once.
    func testStopAfterTheBodyReturnedByItself() throws {
        let context = try ZMQContext()
        let done = DispatchSemaphore(value: 0)
        let actor = try ZMQActor(context: context, name: "short") { _ in done.signal() }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        let t0 = Date()
        actor.stop()
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2)
    }

    /// `terminated` drops other messages and reports the terminate message.
    func testTerminatedSeesOnlyTheTerminateMessage() throws {
        let context = try ZMQContext()
        let seen = DispatchSemaphore(value: 0)
        var verdicts: [Bool] = []
        let actor = try ZMQActor(context: context, name: "term") { pipe in
            while let ready = try? ZMQPoll.readable([pipe], timeoutMs: -1) {
                guard ready[0] else { continue }
                let t = ZMQActor.terminated(pipe)
                verdicts.append(t)
                seen.signal()
                if t { return }
            }
        }
        try actor.pipe.send([[9]])
        XCTAssertEqual(seen.wait(timeout: .now() + 5), .success)
        actor.stop()
        XCTAssertEqual(verdicts, [false, true])
    }

    /// Stopping one run leaves later runs alone (the old global stop flag was one-way).
    func testStopTokenIsPerRun() {
        let first = StopToken()
        XCTAssertFalse(first.isStopped)
        first.stop()
        XCTAssertTrue(first.isStopped)
        XCTAssertFalse(StopToken().isStopped, "a stopped run must not stop the next one")
    }

    /// A coordinator stopped through its token ends as interrupted; the next coordinator in the process runs on.
    func testStoppedCoordinatorDoesNotStopTheNextOne() throws {
        let d = trustTempDir("stop")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let context = try ZMQContext()
        let config = loopbackConfig(d + "/a", samples: 32)
        var progress = config
        progress.progress = false
        let first = try Coordinator(config: progress, context: context)
        first.stopToken.stop()
        let summary = try first.run()
        XCTAssertTrue(summary.interrupted)
        XCTAssertFalse(summary.completed)
        var next = loopbackConfig(d + "/b", samples: 32)
        next.progress = false
        let live = try LiveCoordinator(next, context: context)
        let peer = try peer(live, context, "w")
        XCTAssertTrue(peer.serve(evalSet: next.evalSet, seconds: 20) { live.finished() }, "the next run was stopped")
        XCTAssertEqual(live.summary?.completed, true)
        peer.close()
    }
}
