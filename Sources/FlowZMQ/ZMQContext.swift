import CZeroMQ

/// A ZeroMQ context: owns the I/O threads; sockets are created from it.
///
/// Terminated in `deinit`; close (or let go of) every socket first, with a bounded linger, or
/// termination blocks until pending messages are delivered.
public final class ZMQContext: @unchecked Sendable {
    /// The raw `void*` context handle.
    public let handle: UnsafeMutableRawPointer

    /// Creates a context; throws if libzmq cannot allocate one.
    public init() throws {
        guard let h = zmq_ctx_new() else { throw ZMQError("zmq_ctx_new") }
        handle = h
    }

    deinit {
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// Creates a socket of `type` in this context.
    public func socket(_ type: ZMQSocketType) throws -> ZMQSocket {
        try ZMQSocket(context: self, type: type)
    }

    /// libzmq's version as "major.minor.patch".
    public static var version: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}

/// ZeroMQ socket types used by the cluster (and a few more for tests).
public enum ZMQSocketType: Int32, Sendable {
    case pair = 0
    case pub = 1
    case sub = 2
    case req = 3
    case rep = 4
    case dealer = 5
    case router = 6
    case pull = 7
    case push = 8
    case stream = 11
}
