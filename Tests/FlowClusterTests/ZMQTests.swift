import CZeroMQ
import Foundation
import XCTest

@testable import FlowCluster

/// The ZeroMQ wrapper: multipart, poll, typed errors, ZMQ_MAXMSGSIZE.
final class ZMQTests: XCTestCase {
    func testMultipartRoundTripIncludingEmptyFramesAndPoll() throws {
        let ctx = try ZMQContext()
        let pull = try ctx.socket(.pull)
        let push = try ctx.socket(.push)
        try pull.bind("inproc://mp")
        try push.connect("inproc://mp")
        XCTAssertNil(try pull.receive(dontWait: true))
        XCTAssertEqual(try ZMQPoll.readable([pull], timeoutMs: 0), [false])
        let frames: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 7, count: 100_000)]
        try push.send(frames)
        XCTAssertEqual(try ZMQPoll.readable([pull], timeoutMs: 1000), [true])
        XCTAssertEqual(try pull.receive(), frames)
        push.close()
        pull.close()
    }

    func testTypedErrors() throws {
        let ctx = try ZMQContext()
        let s = try ctx.socket(.router)
        XCTAssertThrowsError(try s.bind("nonsense://x")) { e in
            guard let z = e as? ZMQError else { return XCTFail("expected ZMQError, got \(e)") }
            XCTAssertEqual(z.errno, EPROTONOSUPPORT)
            XCTAssertTrue(z.description.contains("zmq_bind(nonsense://x)"))
        }
        try s.bind("tcp://127.0.0.1:0")
        let port = try s.lastEndpoint().split(separator: ":").last!
        let t = try ctx.socket(.router)
        XCTAssertThrowsError(try t.bind("tcp://127.0.0.1:\(port)")) {
            XCTAssertEqual(($0 as? ZMQError)?.errno, EADDRINUSE)
        }
        // ROUTER_MANDATORY: sending to an unknown peer fails with EHOSTUNREACH instead of dropping silently.
        try s.setRouterMandatory(true)
        XCTAssertThrowsError(try s.send([[9, 9], [1]], dontWait: true)) {
            XCTAssertEqual(($0 as? ZMQError)?.errno, EHOSTUNREACH)
        }
        s.close()
        t.close()
        XCTAssertThrowsError(try s.send([1])) { XCTAssertEqual(($0 as? ZMQError)?.errno, ENOTSOCK) }
    }

    func testMaxMessageSizeDropsOversizedMessagesOverTCP() throws {
        let ctx = try ZMQContext()
        let pull = try ctx.socket(.pull)
        try pull.setLinger(0)
        try pull.setMaxMessageSize(1000)
        try pull.bind("tcp://127.0.0.1:0")
        let ep = try pull.lastEndpoint()
        let big = try ctx.socket(.push)
        try big.setLinger(0)
        try big.connect(ep)
        try big.send([UInt8](repeating: 1, count: 5000))
        XCTAssertEqual(try ZMQPoll.readable([pull], timeoutMs: 300), [false], "oversized message must not arrive")
        let small = try ctx.socket(.push)
        try small.setLinger(0)
        try small.connect(ep)
        try small.send([UInt8](repeating: 2, count: 500))
        XCTAssertEqual(try ZMQPoll.readable([pull], timeoutMs: 2000), [true])
        XCTAssertEqual(try pull.receive(), [[UInt8](repeating: 2, count: 500)])
        big.close()
        small.close()
        pull.close()
    }
}
