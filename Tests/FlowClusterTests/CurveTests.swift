import FlowCluster
import FlowTestSupport
import Foundation
import XCTest

/// CurveZMQ: key files, the ZAP allow-list, tamper detection (through a byte-flipping TCP proxy),
/// and the real binary refusing unknown workers and plaintext on non-loopback addresses.
final class CurveTests: XCTestCase {
    override func setUpWithError() throws {
        guard CurveKeys.available else { throw XCTSkip("libzmq without CURVE (zmq_has(\"curve\") = 0)") }
    }

    func tempDir(_ tag: String) -> String { TestEnvironment.tempDirectory("curve-\(tag)") }

    func testKeyFilesModesAndKnownVector() throws {
        // Published CurveZMQ test vector (libzmq's curve tests / zmq_curve man page).
        XCTAssertEqual(
            try CurveKeys.publicKey(fromSecret: "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"),
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
        let d = tempDir("keys")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let pair = try CurveKeys.generate()
        let (sec, pub) = try CurveKeys.write(pair, dir: d, name: "w1")
        var st = stat()
        XCTAssertEqual(stat(sec, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "secret key must be private")
        // The public file is the libzmq derivation of the secret file's key.
        let read = try CurveKeys.readSecret(sec)
        XCTAssertEqual(try CurveKeys.readPublic(pub), read.publicKey)
        XCTAssertEqual(CurveKeys.decode(read.publicKey)?.count, 32)
        XCTAssertThrowsError(try CurveKeys.write(pair, dir: d, name: "w1"), "keys are never overwritten")
        chmod(sec, 0o644)
        XCTAssertThrowsError(try CurveKeys.readSecret(sec)) { XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)") }
        XCTAssertThrowsError(try CurveKeys.validate("not a key", what: "key"))
        XCTAssertEqual(try CurveKeys.readAllowList(d), [read.publicKey])
    }

    /// A CURVE ROUTER with the ZAP handler, plus client DEALERs.
    struct Rig {
        let context: ZMQContext
        let router: ZMQSocket
        let auth: CurveAuthenticator
        let port: Int
        let server: CurveKeyPair

        init(allowed: Set<String>) throws {
            context = try ZMQContext()
            server = try CurveKeys.generate()
            auth = try CurveAuthenticator(context: context, allowed: allowed)
            router = try context.socket(.router)
            try router.setLinger(0)
            try CurveServerSecurity(keys: server, allowed: allowed).apply(to: router)
            try router.bind("tcp://127.0.0.1:0")
            port = Int(try router.lastEndpoint().split(separator: ":").last!)!
        }

        func client(_ keys: CurveKeyPair?, port: Int? = nil) throws -> ZMQSocket {
            let d = try context.socket(.dealer)
            try d.setLinger(0)
            if let k = keys { try CurveClientSecurity(serverKey: server.publicKey, keys: k).apply(to: d) }
            try d.connect("tcp://127.0.0.1:\(port ?? self.port)")
            return d
        }

        /// Payloads the router receives within `seconds`.
        func received(seconds: Double) throws -> [[UInt8]] {
            var out: [[UInt8]] = []
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try ZMQPoll.readable([router], timeoutMs: 50)[0] {
                    while let f = try router.receive(dontWait: true) { out.append(f.last ?? []) }
                }
            }
            return out
        }
    }

    func testZAPAdmitsOnlyAllowListedKeys() throws {
        let good = try CurveKeys.generate()
        let stranger = try CurveKeys.generate()
        let rig = try Rig(allowed: [good.publicKey])
        let g = try rig.client(good)
        let s = try rig.client(stranger)
        let plain = try rig.client(nil)
        try s.send(Array("from stranger".utf8))
        try plain.send(Array("plaintext".utf8))
        try g.send(Array("from worker".utf8))
        let got = try rig.received(seconds: 1.5).map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(got, ["from worker"])
        let stats = rig.auth.stats
        XCTAssertGreaterThanOrEqual(stats.accepted, 1)
        XCTAssertGreaterThanOrEqual(
            stats.rejected, 1, "the stranger's handshake must reach the ZAP handler and be refused")
        XCTAssertTrue(stats.lastRejected.hasPrefix(stranger.publicKey), stats.lastRejected)
        g.close()
        s.close()
        plain.close()
        rig.auth.stop()
    }

    /// A revoked key (a worker the coordinator banned) cannot come back with a new connection, and the
    /// router sees each admitted peer's key as the message's User-Id.
    func testRevokedKeyIsRefusedOnReconnectAndUserIDIsTheKey() throws {
        let good = try CurveKeys.generate()
        let other = try CurveKeys.generate()
        let rig = try Rig(allowed: [good.publicKey, other.publicKey])
        let first = try rig.client(good)
        try first.send(Array("before".utf8))
        var got: (frames: [[UInt8]], userID: String?)?
        let deadline = Date().addingTimeInterval(2)
        while got == nil && Date() < deadline {
            if try ZMQPoll.readable([rig.router], timeoutMs: 50)[0] {
                got = try rig.router.receiveWithUserID(dontWait: true)
            }
        }
        XCTAssertEqual(got?.frames.last, Array("before".utf8))
        XCTAssertEqual(got?.userID, good.publicKey)
        rig.auth.revoke(good.publicKey)
        let again = try rig.client(good)
        let fine = try rig.client(other)
        try again.send(Array("after revoke".utf8))
        try fine.send(Array("other worker".utf8))
        let later = try rig.received(seconds: 1.5).map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(later, ["other worker"])
        first.close()
        again.close()
        fine.close()
        rig.auth.stop()
    }

    /// TCP proxy that can flip one bit in the next client→server chunk.
    final class TamperProxy {
        let listenFD: Int32
        let port: Int
        let upstream: Int
        private let lock = NSLock()
        private var tamper = false
        private(set) var tampered = 0
        private var stop = false

        init(upstream: Int) throws {
            self.upstream = upstream
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = TamperProxy.loopback(0)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            listen(fd, 8)
            var bound = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &bound) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
            listenFD = fd
            port = Int(UInt16(bigEndian: bound.sin_port))
            Thread { [self] in self.acceptLoop() }.start()
        }

        static func loopback(_ port: Int) -> sockaddr_in {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            a.sin_addr.s_addr = inet_addr("127.0.0.1")
            return a
        }

        func armTamper() {
            lock.lock()
            tamper = true
            lock.unlock()
        }
        func shutdown() {
            lock.lock()
            stop = true
            lock.unlock()
            close(listenFD)
        }
        private var stopped: Bool {
            lock.lock()
            defer { lock.unlock() }
            return stop
        }

        private func acceptLoop() {
            while !stopped {
                let c = accept(listenFD, nil, nil)
                if c < 0 { return }
                let u = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var a = TamperProxy.loopback(upstream)
                let ok = withUnsafePointer(to: &a) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(u, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                    }
                }
                if !ok {
                    close(c)
                    close(u)
                    continue
                }
                Thread { [self] in self.pump(client: c, server: u) }.start()
            }
        }

        private func pump(client: Int32, server: Int32) {
            defer {
                close(client)
                close(server)
            }
            var fds = [
                pollfd(fd: client, events: Int16(POLLIN), revents: 0),
                pollfd(fd: server, events: Int16(POLLIN), revents: 0),
            ]
            var buf = [UInt8](repeating: 0, count: 65536)
            while !stopped {
                fds[0].revents = 0
                fds[1].revents = 0
                guard poll(&fds, 2, 50) >= 0 else { return }
                for i in 0..<2 where fds[i].revents != 0 {
                    let n = buf.withUnsafeMutableBytes { recv(fds[i].fd, $0.baseAddress, 65536, 0) }
                    if n <= 0 { return }
                    if i == 0 {
                        lock.lock()
                        if tamper {
                            buf[n - 1] ^= 0x01
                            tamper = false
                            tampered += 1
                        }
                        lock.unlock()
                    }
                    let out = fds[1 - i].fd
                    var sent = 0
                    while sent < n {
                        let k = buf.withUnsafeBytes { send(out, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                        if k <= 0 { return }
                        sent += k
                    }
                }
            }
        }
    }

    /// A frame modified in transit: CURVE refuses it (nothing altered is ever delivered); the same
    /// tampering without CURVE delivers altered bytes, which shows the proxy really tampers.
    func testTamperedFrameIsRejected() throws {
        let good = try CurveKeys.generate()
        let rig = try Rig(allowed: [good.publicKey])
        let proxy = try TamperProxy(upstream: rig.port)
        defer { proxy.shutdown() }
        let d = try rig.client(good, port: proxy.port)
        let m1 = Array("message one".utf8)
        let m2 = Array("message two".utf8)
        try d.send(m1)
        XCTAssertEqual(try rig.received(seconds: 1.5), [m1])
        proxy.armTamper()
        try d.send(m2)
        let after = try rig.received(seconds: 1.5)
        XCTAssertEqual(proxy.tampered, 1)
        XCTAssertTrue(after.allSatisfy { $0 == m2 }, "a tampered CURVE frame must not be delivered: \(after)")
        d.close()

        // Control: plaintext through the same kind of proxy delivers the altered frame.
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.setLinger(0)
        try router.bind("tcp://127.0.0.1:0")
        let port = Int(try router.lastEndpoint().split(separator: ":").last!)!
        let proxy2 = try TamperProxy(upstream: port)
        defer { proxy2.shutdown() }
        let p = try context.socket(.dealer)
        try p.setLinger(0)
        try p.connect("tcp://127.0.0.1:\(proxy2.port)")
        try p.send(m1)
        var got: [[UInt8]] = []
        var deadline = Date().addingTimeInterval(2)
        while got.isEmpty && Date() < deadline {
            if try ZMQPoll.readable([router], timeoutMs: 50)[0] { got.append(try router.receive()!.last!) }
        }
        XCTAssertEqual(got, [m1])
        proxy2.armTamper()
        try p.send(m2)
        got = []
        deadline = Date().addingTimeInterval(2)
        while got.isEmpty && Date() < deadline {
            if try ZMQPoll.readable([router], timeoutMs: 50)[0] { got.append(try router.receive()!.last!) }
        }
        XCTAssertEqual(got.count, 1)
        XCTAssertNotEqual(got.first, m2, "plaintext: the flipped bit arrives unnoticed")
        XCTAssertEqual(got.first?.count, m2.count)
        p.close()
        router.close()
    }
}
