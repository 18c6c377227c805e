import Foundation
import XCTest

@testable import FlowCluster

/// Loopback spellings that libzmq refuses as they are, and a secret key offered as an allow-list.
final class EndpointTests: XCTestCase {
    /// A message round trip PUSH → PULL over `tcp://HOST:0` (bind) and the bound port (connect).
    func roundTrip(host: String) throws -> [UInt8]? {
        let ctx = try ZMQContext()
        let pull = try ctx.socket(.pull)
        try pull.setLinger(0)
        try pull.bind("tcp://\(host):0")
        let port = Int(try pull.lastEndpoint().split(separator: ":").last ?? "0") ?? 0
        let push = try ctx.socket(.push)
        try push.setLinger(0)
        try push.connect("tcp://\(host):\(port)")
        try push.send([1, 2, 3])
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if try ZMQPoll.readable([pull], timeoutMs: 50)[0],
                let f = try pull.receive(dontWait: true)
            {
                return f.first
            }
        }
        return nil
    }

    func testLocalhostAndIPv6LoopbackBindAndConnect() throws {
        XCTAssertEqual(try roundTrip(host: "localhost"), [1, 2, 3])
        guard FileManager.default.fileExists(atPath: "/proc/net/if_inet6") else {
            throw XCTSkip(
                "no IPv6 on "
                    + "this host")
        }
        XCTAssertEqual(try roundTrip(host: "[::1]"), [1, 2, 3])
        XCTAssertEqual(Endpoint.forBind("tcp://localhost:5555"), "tcp://127.0.0.1:5555")
        XCTAssertEqual(Endpoint.forBind("tcp://*:5555"), "tcp://*:5555")
        XCTAssertTrue(Endpoint.isIPv6("tcp://[::1]:0"))
        XCTAssertFalse(Endpoint.isIPv6("tcp://127.0.0.1:0"))
    }

    func testSecretKeyIsRefusedAsAllowList() throws {
        guard CurveKeys.available else { throw XCTSkip("libzmq without CURVE") }
        let d = NSTemporaryDirectory() + "allow-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: d) }
        let (sec, pub) = try CurveKeys.write(try CurveKeys.generate(), dir: d, name: "w")
        XCTAssertThrowsError(try CurveKeys.readAllowList(sec)) {
            XCTAssertTrue(
                "\($0)".contains(
                    "secret "
                        + "key"), "\($0)")
        }
        // The same secret key under another name is recognised by its header.
        try FileManager.default.copyItem(atPath: sec, toPath: d + "/keys.txt")
        XCTAssertThrowsError(try CurveKeys.readAllowList(d + "/keys.txt"))
        XCTAssertEqual(try CurveKeys.readAllowList(pub).count, 1)
        XCTAssertEqual(try CurveKeys.readAllowList(d).count, 1, "a directory contributes only its .pub files")
    }
}
