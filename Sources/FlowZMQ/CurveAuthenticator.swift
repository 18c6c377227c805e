import CZeroMQ
import FlowTensor
import Foundation

/// Server-side CurveZMQ settings: the coordinator's key pair and the worker public keys allowed in.
public struct CurveServerSecurity {
    /// The coordinator's key pair (its public key is what workers pass as `--curve-server-key`).
    public var keys: CurveKeyPair
    /// Z85 public keys of the workers that may connect.
    public var allowed: Set<String>

    /// Creates the settings.
    public init(keys: CurveKeyPair, allowed: Set<String>) {
        self.keys = keys
        self.allowed = allowed
    }

    /// Makes `socket` a CURVE server (before bind): encrypted, authenticated through the ZAP handler.
    public func apply(to socket: ZMQSocket) throws {
        try CurveKeys.requireAvailable()
        try socket.setOption(ZMQ_CURVE_SERVER, 1)
        try socket.setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8))
        try socket.setOption(ZMQ_ZAP_DOMAIN, bytes: Array(CurveAuthenticator.domain.utf8))
        try? socket.setOption(93, 1)  // ZMQ_ZAP_ENFORCE_DOMAIN (draft API; the handler is always bound first anyway)
    }
}

/// Client-side CurveZMQ settings: the coordinator's public key and this worker's key pair.
public struct CurveClientSecurity {
    /// Z85 public key of the coordinator.
    public var serverKey: String
    /// This worker's key pair (its public key must be on the coordinator's allow-list).
    public var keys: CurveKeyPair

    /// Creates the settings.
    public init(serverKey: String, keys: CurveKeyPair) {
        self.serverKey = serverKey
        self.keys = keys
    }

    /// Makes `socket` a CURVE client of the server (before connect).
    public func apply(to socket: ZMQSocket) throws {
        try CurveKeys.requireAvailable()
        try socket.setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8))
        try socket.setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(keys.publicKey.utf8))
        try socket.setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8))
    }
}

/// The ZAP handler (RFC 27) of one ZeroMQ context: a thread answering libzmq's authentication
/// requests on `inproc://zeromq.zap.01`, accepting CURVE clients whose public key is allow-listed.
///
/// Start it before binding CURVE server sockets in the same context (libzmq consults it during each
/// handshake; a rejected client never completes the handshake, so it can send nothing and receives
/// nothing). One handler per context.
public final class CurveAuthenticator {
    /// ZAP domain set on server sockets.
    public static let domain = "flowturbo"
    /// Counters: handshakes accepted and rejected, and the last rejected key (Z85) with its address.
    public struct Stats: Equatable {
        public var accepted = 0, rejected = 0
        public var lastRejected = ""
    }

    private let allowed: Set<String>
    private var revoked = Set<String>()
    private let socket: ZMQSocket
    private let lock = NSLock()
    private var _stats = Stats()
    /// The handler's thread.
    private var actor: ZMQActor?

    /// Binds the ZAP endpoint in `context` and starts the handler thread.
    public init(context: ZMQContext, allowed: Set<String>) throws {
        self.allowed = allowed
        socket = try context.socket(.rep)
        try socket.setLinger(0)
        do { try socket.bind("inproc://zeromq.zap.01") } catch {
            throw FlowError("cannot start the CurveZMQ authenticator (ZAP endpoint busy: one per context): \(error)")
        }
        let socket = self.socket
        actor = try ZMQActor(context: context, name: "zap") { [self] pipe in
            self.loop(pipe: pipe)
            socket.close()
        }
    }

    deinit { stop() }

    /// Snapshot of the counters.
    public var stats: Stats {
        lock.lock()
        defer { lock.unlock() }
        return _stats
    }

    /// Refuses `key` from now on (e.g. a worker the coordinator shut down for bad results), so it
    /// cannot come back by reconnecting.
    public func revoke(_ key: String) {
        lock.lock()
        revoked.insert(key)
        lock.unlock()
    }

    /// Stops the thread (idempotent).
    public func stop() { actor?.stop() }

    private func loop(pipe: ZMQSocket) {
        while true {
            guard let ready = try? ZMQPoll.readable([pipe, socket], timeoutMs: -1) else { return }
            if ready[0] && ZMQActor.terminated(pipe) { return }
            guard ready[1], let frames = try? socket.receive(dontWait: true) else { continue }
            try? socket.send(reply(to: frames))
        }
    }

    /// ZAP reply for one request: 200 for an allow-listed CURVE key in our domain, else 400.
    func reply(to f: [[UInt8]]) -> [[UInt8]] {
        // Request: version, request id, domain, address, routing id, mechanism, credentials…
        let requestID = f.count > 1 ? f[1] : []
        func answer(_ code: String, _ text: String, user: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), requestID, Array(code.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        guard f.count >= 7, String(decoding: f[0], as: UTF8.self) == "1.0" else {
            count(accepted: false, key: "malformed ZAP request")
            return answer("500", "malformed request")
        }
        let domain = String(decoding: f[2], as: UTF8.self)
        let address = String(decoding: f[3], as: UTF8.self)
        let mechanism = String(decoding: f[5], as: UTF8.self)
        guard domain == CurveAuthenticator.domain, mechanism == "CURVE", let key = CurveKeys.encode(f[6]) else {
            count(accepted: false, key: "\(mechanism) from \(address)")
            return answer("400", "CURVE required")
        }
        lock.lock()
        let isRevoked = revoked.contains(key)
        lock.unlock()
        guard allowed.contains(key), !isRevoked else {
            count(accepted: false, key: "\(key) from \(address)")
            return answer("400", "key not allowed")
        }
        count(accepted: true, key: key)
        return answer("200", "OK", user: key)
    }

    private func count(accepted: Bool, key: String) {
        lock.lock()
        if accepted {
            _stats.accepted += 1
        } else {
            _stats.rejected += 1
            _stats.lastRejected = key
        }
        lock.unlock()
    }
}
