import FlowTensor

/// The `--metrics HOST:PORT` address: an IPv4 address, a host name or a bracketed IPv6 address, and a port (0 = any
/// free port). Metrics reveal run progress and worker counts, so only loopback is accepted unless the operator allows
/// other interfaces explicitly (`--metrics-allow-remote`).
public struct MetricsAddress: Equatable, CustomStringConvertible {
    public let host: String
    public let port: Int

    /// Parses `text`; throws a one-line error for a malformed address or, without `allowRemote`, a non-loopback host.
    public init(parsing text: String, allowRemote: Bool) throws {
        guard let colon = text.lastIndex(of: ":") else {
            throw FlowError("\(.metrics) \(text): expected HOST:PORT, e.g. 127.0.0.1:9464")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw FlowError("\(.metrics) \(text): expected HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:9464")
        }
        guard allowRemote || Self.isLoopback(host) else {
            throw FlowError(
                "\(.metrics) \(text): \(host) is not a loopback address and /metrics has no authentication; "
                    + "use 127.0.0.1:PORT, or add \(.metricsAllowRemote) to serve other hosts")
        }
        self.host = host
        self.port = port
    }

    /// True for 127.0.0.0/8, `localhost` and `::1`.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// `HOST:PORT` (IPv6 hosts in brackets).
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
