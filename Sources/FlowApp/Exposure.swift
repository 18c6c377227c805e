/// Which endpoints a run may listen on: the rule that nothing reachable from other hosts runs without keys.
public enum Exposure {
    /// True for endpoints other hosts cannot reach: loopback TCP addresses, ipc:// and inproc://.
    public static func isLoopback(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        let rest = endpoint.dropFirst(6)
        // No port (`tcp://host`) is not an endpoint libzmq binds; the CLI used to trap on it here.
        guard let colon = rest.lastIndex(of: ":") else { return false }
        let host = rest[..<colon]
        return host.hasPrefix("127.") || host == "localhost" || host == "[::1]" || host == "::1"
    }

    /// A local run (coordinator and its own worker processes) listens on loopback only.
    public static func checkLocal(bind: String) throws {
        guard isLoopback(bind) else { throw RunSettingError.localRunNotLoopback(endpoint: bind) }
    }

    /// The default control endpoint of a coordinator: every interface when it has keys or was told the network
    /// is trusted, loopback otherwise.
    public static func defaultBind(keyed: Bool, insecure: Bool) -> String {
        keyed || insecure ? "tcp://*:5555" : "tcp://127.0.0.1:5555"
    }

    /// A coordinator without keys listens only where other hosts cannot reach it, unless `insecure` says the
    /// network is trusted. Throws for the first endpoint that breaks the rule.
    public static func checkCoordinator(binds: [String], keyed: Bool, insecure: Bool) throws {
        guard !keyed && !insecure else { return }
        for e in binds where !isLoopback(e) { throw RunSettingError.exposedWithoutKeys(endpoint: e) }
    }
}
