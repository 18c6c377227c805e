import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

/// A ZeroMQ socket: bind/connect, socket options, multipart send/receive.
///
/// Not thread-safe (ZeroMQ rule): use a socket from one thread at a time. Closed in `deinit` or
/// by `close()`. Every failure throws `ZMQError`; `EINTR` is retried for blocking calls.
public final class ZMQSocket {
    /// The raw `void*` socket handle (nil after `close()`).
    public private(set) var handle: UnsafeMutableRawPointer?
    /// The socket type.
    public let type: ZMQSocketType
    private let context: ZMQContext  // keeps the context alive while the socket exists

    /// Creates a socket; prefer `ZMQContext.socket(_:)`.
    public init(context: ZMQContext, type: ZMQSocketType) throws {
        guard let h = zmq_socket(context.handle, type.rawValue) else { throw ZMQError("zmq_socket(\(type))") }
        self.handle = h
        self.type = type
        self.context = context
    }

    deinit { close() }

    /// Closes the socket (pending messages are kept for at most the linger period).
    public func close() {
        if let h = handle {
            zmq_close(h)
            handle = nil
        }
    }

    private func live(_ op: String) throws -> UnsafeMutableRawPointer {
        guard let h = handle else { throw ZMQError(op, errno: ENOTSOCK) }
        return h
    }

    /// Binds to `endpoint` (e.g. `tcp://*:5555`, `tcp://127.0.0.1:0` for a free port, `inproc://x`).
    public func bind(_ endpoint: String) throws {
        if Endpoint.isIPv6(endpoint) { try setOption(ZMQ_IPV6, 1) }
        if zmq_bind(try live("zmq_bind"), Endpoint.forBind(endpoint)) != 0 { throw ZMQError("zmq_bind(\(endpoint))") }
    }

    /// Connects to `endpoint`; ZeroMQ reconnects on its own after a disconnect.
    public func connect(_ endpoint: String) throws {
        if Endpoint.isIPv6(endpoint) { try setOption(ZMQ_IPV6, 1) }
        if zmq_connect(try live("zmq_connect"), endpoint) != 0 { throw ZMQError("zmq_connect(\(endpoint))") }
    }

    /// Sets an integer option (`ZMQ_LINGER`, `ZMQ_RECONNECT_IVL`, `ZMQ_RECONNECT_IVL_MAX`, `ZMQ_ROUTER_MANDATORY`, …).
    public func setOption(_ option: Int32, _ value: Int32) throws {
        var v = value
        if zmq_setsockopt(try live("zmq_setsockopt"), option, &v, MemoryLayout<Int32>.size) != 0 {
            throw ZMQError("zmq_setsockopt(\(option), \(value))")
        }
    }

    /// Sets a 64-bit integer option (`ZMQ_MAXMSGSIZE`).
    public func setOption(_ option: Int32, int64 value: Int64) throws {
        var v = value
        if zmq_setsockopt(try live("zmq_setsockopt"), option, &v, MemoryLayout<Int64>.size) != 0 {
            throw ZMQError("zmq_setsockopt(\(option), \(value))")
        }
    }

    /// Sets a binary option (`ZMQ_ROUTING_ID`, `ZMQ_SUBSCRIBE`).
    public func setOption(_ option: Int32, bytes: [UInt8]) throws {
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, bytes.count) }
        if rc != 0 { throw ZMQError("zmq_setsockopt(\(option), \(bytes.count) bytes)") }
    }

    /// Reads an integer option.
    public func option(_ option: Int32) throws -> Int32 {
        var v: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(try live("zmq_getsockopt"), option, &v, &size) != 0 {
            throw ZMQError("zmq_getsockopt(\(option))")
        }
        return v
    }

    /// Maximum inbound message size in bytes; larger messages make libzmq drop the connection.
    public func setMaxMessageSize(_ bytes: Int64) throws { try setOption(ZMQ_MAXMSGSIZE, int64: bytes) }

    /// Linger on close in milliseconds (0 = drop pending messages, -1 = wait forever).
    public func setLinger(_ ms: Int32) throws { try setOption(ZMQ_LINGER, ms) }

    /// Reconnect interval and its exponential-backoff ceiling in milliseconds.
    public func setReconnect(intervalMs: Int32, maxMs: Int32) throws {
        try setOption(ZMQ_RECONNECT_IVL, intervalMs)
        try setOption(ZMQ_RECONNECT_IVL_MAX, maxMs)
    }

    /// ROUTER: fail with `EHOSTUNREACH` instead of silently dropping messages to unknown peers.
    public func setRouterMandatory(_ on: Bool) throws { try setOption(ZMQ_ROUTER_MANDATORY, on ? 1 : 0) }

    /// The endpoint actually bound (resolves port 0 / `*` to the real port).
    public func lastEndpoint() throws -> String {
        var buf = [CChar](repeating: 0, count: 256)
        var size = buf.count
        if zmq_getsockopt(try live("zmq_getsockopt"), ZMQ_LAST_ENDPOINT, &buf, &size) != 0 {
            throw ZMQError("zmq_getsockopt(ZMQ_LAST_ENDPOINT)")
        }
        return String(cString: buf)
    }

    /// Sends one message of several frames. With `dontWait`, throws `EAGAIN` instead of blocking.
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws {
        let h = try live("zmq_send")
        for (i, frame) in frames.enumerated() {
            var flags: Int32 = i + 1 < frames.count ? ZMQ_SNDMORE : 0
            if dontWait { flags |= ZMQ_DONTWAIT }
            while true {
                let rc = frame.withUnsafeBytes { zmq_send(h, $0.baseAddress, frame.count, flags) }
                if rc >= 0 { break }
                let e = ZMQError("zmq_send(frame \(i) of \(frames.count))")
                if e.isInterrupted { continue }
                throw e
            }
        }
    }

    /// Sends one single-frame message.
    public func send(_ frame: [UInt8], dontWait: Bool = false) throws { try send([frame], dontWait: dontWait) }

    /// Receives one whole message (all frames). With `dontWait`, returns nil when nothing is queued.
    /// Blocking receives also return nil when `ZMQ_RCVTIMEO` expires.
    public func receive(dontWait: Bool = false) throws -> [[UInt8]]? {
        try receiveFrames(dontWait: dontWait, readUserID: false)?.frames
    }

    /// Like `receive(dontWait:)`, plus the message's ZAP "User-Id" metadata (for CURVE peers the
    /// authenticator sets it to the client's Z85 public key); nil without authentication.
    public func receiveWithUserID(dontWait: Bool = false) throws -> (frames: [[UInt8]], userID: String?)? {
        try receiveFrames(dontWait: dontWait, readUserID: true)
    }

    /// The one receive loop behind both entry points.
    private func receiveFrames(dontWait: Bool, readUserID: Bool) throws -> (frames: [[UInt8]], userID: String?)? {
        let h = try live("zmq_msg_recv")
        var frames: [[UInt8]] = []
        var userID: String?
        var msg = zmq_msg_t()
        zmq_msg_init(&msg)
        defer { zmq_msg_close(&msg) }
        while true {
            let rc = zmq_msg_recv(&msg, h, dontWait ? ZMQ_DONTWAIT : 0)
            if rc < 0 {
                let e = ZMQError("zmq_msg_recv")
                if e.isInterrupted && frames.isEmpty { return nil }
                if e.isInterrupted { continue }
                if e.isAgain && frames.isEmpty { return nil }
                throw e
            }
            let size = zmq_msg_size(&msg)
            if size == 0 {
                frames.append([])
            } else {
                let p = zmq_msg_data(&msg)!.assumingMemoryBound(to: UInt8.self)
                frames.append(Array(UnsafeBufferPointer(start: p, count: size)))
            }
            if readUserID, let u = zmq_msg_gets(&msg, "User-Id"), u[0] != 0 { userID = String(cString: u) }
            if zmq_msg_more(&msg) == 0 { return (frames, userID) }
        }
    }

    /// Starts a socket monitor publishing `events` (ZMQ_EVENT_* bits) on `endpoint` (inproc://…).
    public func monitor(_ endpoint: String, events: Int32) throws {
        if zmq_socket_monitor(try live("zmq_socket_monitor"), endpoint, events) != 0 {
            throw ZMQError("zmq_socket_monitor(\(endpoint))")
        }
    }
}
