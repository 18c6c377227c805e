import CZeroMQ
import FlowTensor

#if canImport(Glibc)
    import Glibc
#endif

/// A failed ZeroMQ call: the operation, the endpoint or option involved, and `zmq_errno()`.
///
/// `errno` keeps the raw code so callers can branch (e.g. `EAGAIN` on a non-blocking receive,
/// `ETERM` when the context is shutting down, `EHOSTUNREACH` for an unknown ROUTER peer).
public struct ZMQError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The libzmq call that failed, e.g. "zmq_bind(tcp://*:5555)".
    public let operation: String
    /// `zmq_errno()` at the time of failure.
    public let errno: Int32

    /// Captures `zmq_errno()` for `operation`.
    public init(_ operation: String, errno: Int32 = zmq_errno()) {
        self.operation = operation
        self.errno = errno
    }

    /// libzmq's text for the error code.
    public var reason: String { String(cString: zmq_strerror(errno)) }

    /// True for "try again" (non-blocking call with nothing to do, or a timeout).
    public var isAgain: Bool { errno == EAGAIN }

    /// True when the context was terminated (sockets must be closed).
    public var isTerminated: Bool { errno == ETERM }

    /// True when the call was interrupted by a signal.
    public var isInterrupted: Bool { errno == EINTR }

    /// One line: the call, the reason and a hint for the common cases.
    public var description: String {
        var hint = ""
        if errno == EADDRINUSE { hint = "; another process holds this port, pick another with \(Setting.bind)" }
        if errno == EINVAL || errno == EPROTONOSUPPORT {
            hint = "; check the endpoint syntax, e.g. tcp://*:5555 or tcp://HOST:5555"
        }
        return "\(operation): \(reason)\(hint)"
    }
}
