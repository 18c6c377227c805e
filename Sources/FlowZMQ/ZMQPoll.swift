import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

/// `zmq_poll` over several sockets for readability.
public enum ZMQPoll {
    /// Waits up to `timeoutMs` (−1 = forever) until any socket is readable; returns one flag per
    /// socket. A signal interrupting the wait returns all-false (callers re-check their stop flag).
    public static func readable(_ sockets: [ZMQSocket], timeoutMs: Int) throws -> [Bool] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let rc = zmq_poll(&items, Int32(items.count), timeoutMs)
        if rc < 0 {
            let e = ZMQError("zmq_poll")
            if e.isInterrupted { return [Bool](repeating: false, count: sockets.count) }
            throw e
        }
        return items.map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
    }
}
