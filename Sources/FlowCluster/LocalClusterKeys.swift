import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Ephemeral CurveZMQ keys that make a `flowturbo run` cluster private: a fresh coordinator key pair and
/// one worker key pair, generated per run, never written to disk. The run's own worker processes get them
/// in their environment (readable only by the same user, unlike command lines), so no other local process
/// can complete a handshake on the run's ports, even after reading `endpoints.json`.
public struct LocalClusterKeys {
    /// Environment variable with the coordinator's Z85 public key.
    public static let serverKeyVariable = "FLOWTURBO_CURVE_SERVER_KEY"
    /// Environment variable with the worker's Z85 secret key.
    public static let secretKeyVariable = "FLOWTURBO_CURVE_SECRET_KEY"

    public let server: CurveKeyPair
    public let worker: CurveKeyPair

    /// Fresh random keys (libzmq's `zmq_curve_keypair`); throws when libzmq has no CURVE.
    public static func generate() throws -> LocalClusterKeys {
        LocalClusterKeys(server: try CurveKeys.generate(), worker: try CurveKeys.generate())
    }

    /// The coordinator side: its key pair, admitting only the ephemeral worker key.
    public var serverSecurity: CurveServerSecurity { CurveServerSecurity(keys: server, allowed: [worker.publicKey]) }

    /// Variables to add to each local worker's environment.
    public var environment: [String: String] {
        [LocalClusterKeys.serverKeyVariable: server.publicKey, LocalClusterKeys.secretKeyVariable: worker.secretKey]
    }

    /// Client settings from this process's environment (nil when the variables are absent); the variables
    /// are removed so nothing this process starts inherits the secret.
    public static func clientFromEnvironment() throws -> CurveClientSecurity? {
        let env = ProcessInfo.processInfo.environment
        guard let server = env[serverKeyVariable], let secret = env[secretKeyVariable] else { return nil }
        unsetenv(serverKeyVariable)
        unsetenv(secretKeyVariable)
        try CurveKeys.validate(server, what: "coordinator public key in \(serverKeyVariable)")
        let pair = try CurveKeyPair(publicKey: try CurveKeys.publicKey(fromSecret: secret), secretKey: secret)
        return CurveClientSecurity(serverKey: server, keys: pair)
    }
}
