import CZeroMQ

/// TCP endpoint spellings libzmq does not take as they are.
///
/// `zmq_bind` reads the host of `tcp://HOST:PORT` as an interface name or an IP address, so
/// `tcp://localhost:5555` fails with "No such device"; IPv6 literals (`tcp://[::1]:5555`) need
/// `ZMQ_IPV6` on the socket before bind or connect.
public enum Endpoint {
    /// The host part of a `tcp://` endpoint (brackets kept), nil for other transports.
    public static func host(_ endpoint: String) -> Substring? {
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return nil }
        let start = endpoint.index(endpoint.startIndex, offsetBy: 6)
        return colon >= start ? endpoint[start..<colon] : nil
    }

    /// True for a bracketed IPv6 literal host such as `[::1]`.
    public static func isIPv6(_ endpoint: String) -> Bool {
        guard let h = host(endpoint) else { return false }
        return h.hasPrefix("[") && h.contains(":")
    }

    /// The endpoint to hand to `zmq_bind`: `localhost` becomes the loopback address 127.0.0.1.
    public static func forBind(_ endpoint: String) -> String {
        guard let h = host(endpoint), h == "localhost" else { return endpoint }
        return "tcp://127.0.0.1" + endpoint[h.endIndex...]
    }

    /// Where a local process reaches a loopback endpoint bound as `bind` on `port`: `tcp://[::1]:PORT` for an
    /// IPv6 bind, else `tcp://127.0.0.1:PORT`.
    public static func loopback(for bind: String, port: Int) -> String {
        isIPv6(bind) ? "tcp://[::1]:\(port)" : "tcp://127.0.0.1:\(port)"
    }
}
