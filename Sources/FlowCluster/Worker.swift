import CZeroMQ
import FlowProto
import FlowSampler
import FlowTensor
import Foundation
import Logging

/// Settings of one worker process.
public struct WorkerConfig {
    /// Coordinator control endpoint, e.g. `tcp://HOST:5555`.
    public var connect: String
    /// Id shown in logs and the journal (default host:pid).
    public var workerID: String
    /// Heartbeat interval and liveness (Paranoid Pirate defaults: 1 s, 3).
    public var heartbeatIntervalMs = 1000
    public var liveness = 3
    /// Reconnect backoff after the coordinator went silent: starts here, doubles up to the max.
    public var reconnectInitialMs = 250
    public var reconnectMaxMs = 8000
    /// Exit with an error after this long without hearing from any coordinator.
    public var giveUpSeconds = 60.0
    /// Exit when this process is no longer our parent (the local `flowturbo run` died).
    public var parentPID: Int32?
    /// Test hook: sleep this long after each batch (makes kill tests deterministic on fast models).
    public var batchDelayMs = 0
    /// CurveZMQ client settings (coordinator public key + own key pair); nil = plaintext.
    public var curve: CurveClientSecurity?
    /// Test hook: put a NaN into every result (exercises the coordinator's re-run-elsewhere path).
    public var injectNonFinite = false
    /// Assignments whose plan has more solver steps than this are refused (a shard must stay bounded).
    public var maxPlanSteps = 4096

    /// Creates a config with the defaults above.
    public init(connect: String, workerID: String) {
        self.connect = connect
        self.workerID = workerID
    }
}

/// The coordinator refused this worker (models that differ from the run's, another protocol version, or a
/// ban): the worker stops with this error instead of a normal exit.
public struct WorkerRefused: Error, CustomStringConvertible {
    public let workerID: String
    public let reason: String
    public var description: String { "worker \(workerID): refused by the coordinator: \(reason)" }
}

/// What a worker did before it exited.
public struct WorkerSummary {
    public var shards = 0
    public var samples = 0
    public var rejected = 0
    public var reconnects = 0
    public var shutdownReason = ""
}

/// A worker (DEALER): hello, ask for work, run shards on a compute thread while heartbeating,
/// push results to the aggregator, reconnect with backoff when the coordinator goes silent.
///
/// Assignments it cannot run (protocol version, unknown plan, model digest mismatch, text prompts
/// for a model without text conditioning) are answered with an `Error` instead of exiting.
public final class Worker {
    public let config: WorkerConfig
    let backend: WorkerBackend
    let context: ZMQContext
    private var dealer: ZMQSocket?
    var push: ZMQSocket?
    private var pushEndpoint = ""
    var programs: [String: ShardProgram] = [:]
    var summary = WorkerSummary()
    /// The shard computing now: an actor whose pipe carries its outcome back to the control loop.
    var compute: ZMQActor?
    /// A computed result not yet handed to the aggregator.
    var pendingSend: [UInt8]?
    /// When this worker last asked for work (start of the next shard's queue wait).
    var lastWorkRequest = Date()
    var currentShard: UInt64 = 0
    /// Stops this worker's run (SIGINT/SIGTERM stop it too).
    public let stopToken = StopToken()

    /// Creates a worker; nothing is connected until `run()`.
    public init(config: WorkerConfig, backend: WorkerBackend, context: ZMQContext) {
        self.config = config
        self.backend = backend
        self.context = context
    }

    /// Number of compiled programs in the cache (one per distinct (plan, batch, guidance)).
    public var programCount: Int { programs.count }

    func envelope(_ f: (inout Flowturbo_V1_Envelope) -> Void) -> [UInt8] {
        var e = Flowturbo_V1_Envelope()
        f(&e)
        return (try? e.serializedBytes()) ?? []
    }

    func sendControl(_ bytes: [UInt8]) {
        try? dealer?.send(bytes, dontWait: true)
    }

    private func connectControl() throws {
        dealer?.close()
        let d = try context.socket(.dealer)
        try d.setLinger(0)
        try d.setReconnect(intervalMs: Int32(config.reconnectInitialMs), maxMs: Int32(config.reconnectMaxMs))
        try d.setMaxMessageSize(64 << 20)
        try config.curve?.apply(to: d)
        try d.connect(config.connect)
        dealer = d
        var hello = Flowturbo_V1_WorkerHello()
        hello.workerID = config.workerID
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        hello.host = String(cString: name)
        hello.cores = UInt32(ProcessInfo.processInfo.activeProcessorCount)
        hello.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
        hello.models = backend.models
        hello.pid = UInt32(getpid())
        sendControl(envelope { $0.hello = hello })
        log.info("hello", metadata: ["connect": "\(config.connect)"])
    }

    private func requestWork() {
        lastWorkRequest = Date()
        sendControl(envelope { $0.workRequest.workerID = config.workerID })
    }

    /// The data endpoint: the control endpoint's host with the Welcome's port.
    static func dataEndpoint(control: String, port: Int) -> String {
        guard let colon = control.lastIndex(of: ":") else { return control }
        var host = String(control[..<colon])
        if host.hasSuffix("*") || host.hasSuffix("0.0.0.0") { host = "tcp://127.0.0.1" }
        return "\(host):\(port)"
    }

    /// Runs until Shutdown, a stop signal, or `giveUpSeconds` of silence (throws then).
    public func run() throws -> WorkerSummary {
        // Every exit (also a throw) waits for a running shard first and hands its result to the aggregator.
        defer { waitForCompute() }
        var session = WorkerSession(config: config, now: Date())
        if try perform(session.start(), &session) { return summary }
        while true {
            if stopToken.isStopped {
                summary.shutdownReason = "signal"
                break
            }
            if let pp = config.parentPID, getppid() != pp {
                summary.shutdownReason = "parent exited"
                return summary
            }
            let ready = try ZMQPoll.readable([dealer!] + (compute.map { [$0.pipe] } ?? []), timeoutMs: 50)
            let now = Date()
            if ready[0] {
                while let frames = try dealer!.receive(dontWait: true) {
                    guard frames.count == 1, let env = try? Flowturbo_V1_Envelope(serializedBytes: frames[0]),
                        let body = env.body
                    else {
                        session.heard(now: now)
                        continue
                    }
                    if try perform(session.received(body, now: now), &session) { return summary }
                }
            }
            // Compute finished: hand the result to the aggregator, then ask for more.
            if ready.count > 1 && ready[1] {
                switch takeOutcome() {
                case .result(let r)?:
                    pendingSend = r
                    session.computeFinished()
                case .failure(let e)?:
                    try perform(session.computeFailed(e), &session)
                case nil:
                    break
                }
            }
            if let r = pendingSend, push != nil {
                do {
                    try push!.send(r, dontWait: true)
                    pendingSend = nil
                    try perform(session.pushed(), &session)
                } catch let e as ZMQError where e.isAgain {}
            }
            if try perform(session.tick(now: now), &session) { return summary }
        }
        waitForCompute()
        return summary
    }

    /// Performs the session's actions in order; true when the run is over (Shutdown).
    @discardableResult
    private func perform(_ actions: [WorkerSession.Action], _ session: inout WorkerSession) throws -> Bool {
        for action in actions {
            switch action {
            case .connect:
                if session.reconnects > summary.reconnects {
                    let silent = Int(Date().timeIntervalSince(session.lastHeard) * 1000)
                    log.warning("coordinator silent for \(silent) ms; reconnecting")
                }
                try connectControl()
            case .connectData(let port):
                log.info("welcome", metadata: ["data_port": "\(port)", "heartbeat_s": "\(session.heartbeatSeconds)"])
                try connectData(Worker.dataEndpoint(control: config.connect, port: port))
            case .requestWork:
                requestWork()
            case .start(let a):
                log.info("assignment", metadata: Worker.lease(shard: a.shardID, lease: a.leaseID))
                if let e = try start(a) { try perform(session.computeFailed(e), &session) }
            case .refuseBusy(let a):
                var e = Flowturbo_V1_Error()
                e.workerID = config.workerID
                e.shardID = a.shardID
                e.leaseID = a.leaseID
                e.message = "busy with another shard"
                sendControl(envelope { $0.error = e })
            case .report(let e):
                let level: Logger.Level = e.fatal ? .error : .warning
                log.log(level: level, "\(e.message)", metadata: Worker.lease(shard: e.shardID, lease: e.leaseID))
                sendControl(envelope { $0.error = e })
            case .heartbeat(let b):
                sendControl(
                    envelope {
                        $0.heartbeat.workerID = config.workerID
                        $0.heartbeat.busy = b
                        $0.heartbeat.shardID = currentShard
                    })
            case .finish(let reason, let refused):
                log.info("shutdown: \(reason)")
                summary.shutdownReason = reason
                waitForCompute()
                summary.reconnects = session.reconnects
                summary.rejected = session.rejected
                if refused { throw WorkerRefused(workerID: config.workerID, reason: reason) }
                return true
            case .giveUp(let silent):
                waitForCompute()
                let keys: FlowError.Message =
                    config.curve == nil
                    ? ""
                    : ", that this worker's .pub is on its \(.allowList) list and that \(.curveServerKey) is its coordinator.pub"
                throw FlowError(
                    "worker \(config.workerID): no coordinator at \(config.connect) for \(Int(silent)) s; check the address and that `flowturbo coordinator` runs\(keys)"
                )
            }
        }
        summary.reconnects = session.reconnects
        summary.rejected = session.rejected
        return false
    }

    private func connectData(_ endpoint: String) throws {
        if endpoint == pushEndpoint && push != nil { return }
        push?.close()
        let p = try context.socket(.push)
        try p.setLinger(2000)
        try p.setReconnect(intervalMs: Int32(config.reconnectInitialMs), maxMs: Int32(config.reconnectMaxMs))
        try config.curve?.apply(to: p)
        try p.connect(endpoint)
        push = p
        pushEndpoint = endpoint
    }
}
