import FlowProto
import FlowSampler
import FlowTensor
import Foundation
import CZeroMQ

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
    public init(connect: String, workerID: String) { self.connect = connect; self.workerID = workerID }
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
    private let backend: WorkerBackend
    private let context: ZMQContext
    private var dealer: ZMQSocket?
    private var push: ZMQSocket?
    private var pushEndpoint = ""
    private var programs: [String: ShardProgram] = [:]
    private var summary = WorkerSummary()
    // Compute hand-off (compute thread → main thread).
    private let lock = NSLock()
    private var busy = false
    private var finishedResult: [UInt8]?
    private var finishedError: Flowturbo_V1_Error?
    private var pendingSend: [UInt8]?
    /// When this worker last asked for work (start of the next shard's queue wait).
    private var lastWorkRequest = Date()
    private var currentShard: UInt64 = 0
    // Wakes the control loop when a compute thread finishes (the sender is only used by compute threads).
    private var wakeReceiver: ZMQSocket?
    private var wakeSender: ZMQSocket?

    /// Creates a worker; nothing is connected until `run()`.
    public init(config: WorkerConfig, backend: WorkerBackend, context: ZMQContext) {
        self.config = config; self.backend = backend; self.context = context
    }

    /// Number of compiled programs in the cache (one per distinct (plan, batch, guidance)).
    public var programCount: Int { programs.count }

    private func envelope(_ f: (inout Flowturbo_V1_Envelope) -> Void) -> [UInt8] {
        var e = Flowturbo_V1_Envelope(); f(&e)
        return (try? e.serializedBytes()) ?? []
    }

    private func sendControl(_ bytes: [UInt8]) {
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
        let wakeEndpoint = "inproc://worker-wake-\(UInt64.random(in: 0...UInt64.max))"
        let wr = try context.socket(.pair), ws = try context.socket(.pair)
        try wr.setLinger(0); try ws.setLinger(0)
        try wr.bind(wakeEndpoint); try ws.connect(wakeEndpoint)
        wakeReceiver = wr; wakeSender = ws
        // Every exit (also a throw) waits for a running shard first: its thread sends on the wake socket.
        defer {
            waitForCompute()
            wakeSender = nil
            wakeReceiver = nil
            wr.close()
            ws.close()
        }
        try connectControl()
        var (hb, silenceLimit) = Worker.timing(config: config, welcome: nil)
        var lastHeard = Date(), lastSent = Date.distantPast
        var backoff = Double(config.reconnectInitialMs) / 1000
        var welcomed = false, asked = false
        var nextReconnect = Date.distantPast
        while true {
            if StopSignals.requested { summary.shutdownReason = "signal"; break }
            if let pp = config.parentPID, getppid() != pp { summary.shutdownReason = "parent exited"; return summary }
            let ready = try ZMQPoll.readable([dealer!, wakeReceiver!], timeoutMs: 50)
            if ready[1] { while (try? wakeReceiver!.receive(dontWait: true)) ?? nil != nil {} }
            let now = Date()
            if ready[0] {
                while let frames = try dealer!.receive(dontWait: true) {
                    lastHeard = now
                    backoff = Double(config.reconnectInitialMs) / 1000
                    guard frames.count == 1, let env = try? Flowturbo_V1_Envelope(serializedBytes: frames[0]) else { continue }
                    switch env.body {
                    case .welcome(let w)?:
                        welcomed = true
                        (hb, silenceLimit) = Worker.timing(config: config, welcome: w)
                        log.info("welcome", metadata: ["data_port": "\(w.dataPort)", "heartbeat_s": "\(hb)"])
                        try connectData(Worker.dataEndpoint(control: config.connect, port: Int(w.dataPort)))
                        if !isBusy && pendingSend == nil && !asked { requestWork(); asked = true }
                    case .assignment(let a)?:
                        asked = false
                        log.info("assignment", metadata: Worker.lease(shard: a.shardID, lease: a.leaseID))
                        start(a)
                    case .noWork(let n)?:
                        if n.retryAfterMs == 0 { try connectControl(); welcomed = false; asked = false }
                    case .shutdown(let s)?:
                        summary.shutdownReason = s.reason
                        log.info("shutdown: \(s.reason)")
                        waitForCompute()
                        if s.refused { throw WorkerRefused(workerID: config.workerID, reason: s.reason) }
                        return summary
                    default: break
                    }
                }
            }
            // Compute finished: hand the result to the aggregator, then ask for more.
            lock.lock()
            if let r = finishedResult { pendingSend = r; finishedResult = nil; busy = false }
            if let e = finishedError {
                finishedError = nil; busy = false
                log.log(level: e.fatal ? .error : .warning, "\(e.message)", metadata: Worker.lease(shard: e.shardID, lease: e.leaseID))
                sendControl(envelope { $0.error = e })
                summary.rejected += 1
                if !e.fatal { requestWork(); asked = true }
            }
            lock.unlock()
            if let r = pendingSend, push != nil {
                do { try push!.send(r, dontWait: true); pendingSend = nil; if welcomed { requestWork(); asked = true } }
                catch let e as ZMQError where e.isAgain {}
            }
            if now.timeIntervalSince(lastSent) >= hb {
                lastSent = now
                lock.lock(); let b = busy, s = currentShard; lock.unlock()
                sendControl(envelope { $0.heartbeat.workerID = config.workerID; $0.heartbeat.busy = b; $0.heartbeat.shardID = s })
            }
            let silent = now.timeIntervalSince(lastHeard)
            if silent > config.giveUpSeconds {
                waitForCompute()
                throw FlowError("worker \(config.workerID): no coordinator at \(config.connect) for \(Int(silent)) s; check the address and that `flowturbo coordinator` runs\(config.curve == nil ? "" : ", that this worker's .pub is on its --allow list and that --curve-server-key is its coordinator.pub")")
            }
            if silent > silenceLimit && now >= nextReconnect {
                // Paranoid Pirate: the coordinator went silent; reconnect with exponential backoff.
                summary.reconnects += 1
                log.warning("coordinator silent for \(Int(silent * 1000)) ms; reconnecting")
                try connectControl(); welcomed = false; asked = false
                nextReconnect = now.addingTimeInterval(backoff)
                backoff = min(backoff * 2, Double(config.reconnectMaxMs) / 1000)
            }
        }
        waitForCompute()
        return summary
    }

    private var isBusy: Bool { lock.lock(); defer { lock.unlock() }; return busy }

    /// Waits for a running shard to finish (the compute thread sets a result or an error; `busy`
    /// itself is only cleared by the control loop, so waiting on it alone would never end), then
    /// hands a finished result to the aggregator.
    private func waitForCompute() {
        while true {
            lock.lock(); let running = busy && finishedResult == nil && finishedError == nil; lock.unlock()
            if !running { break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        lock.lock()
        if let r = finishedResult { pendingSend = r; finishedResult = nil }
        finishedError = nil; busy = false
        lock.unlock()
        if let r = pendingSend, let p = push { try? p.send(r, dontWait: true); pendingSend = nil }
    }

    private func connectData(_ endpoint: String) throws {
        if endpoint == pushEndpoint && push != nil { return }
        push?.close()
        let p = try context.socket(.push)
        try p.setLinger(2000)
        try p.setReconnect(intervalMs: Int32(config.reconnectInitialMs), maxMs: Int32(config.reconnectMaxMs))
        try config.curve?.apply(to: p)
        try p.connect(endpoint)
        push = p; pushEndpoint = endpoint
    }

    private func reject(_ a: Flowturbo_V1_ShardAssignment, _ message: String, fatal: Bool) {
        var e = Flowturbo_V1_Error()
        e.workerID = config.workerID; e.shardID = a.shardID; e.leaseID = a.leaseID; e.message = message; e.fatal = fatal
        lock.lock(); finishedError = e; busy = true; lock.unlock()
    }

    /// Validates an assignment and starts the compute thread (or queues an Error reply).
    private func start(_ a: Flowturbo_V1_ShardAssignment) {
        if isBusy || pendingSend != nil {
            var e = Flowturbo_V1_Error()
            e.workerID = config.workerID; e.shardID = a.shardID; e.leaseID = a.leaseID; e.message = "busy with another shard"
            sendControl(envelope { $0.error = e }); return
        }
        guard a.protocolVersion == UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue) else {
            return reject(a, "protocol version \(a.protocolVersion) unsupported (worker speaks \(Flowturbo_V1_ProtocolVersion.current.rawValue))", fatal: true)
        }
        let held = Dictionary(backend.models.map { ($0.role, $0) }, uniquingKeysWith: { x, _ in x })
        for m in a.models {
            guard let h = held[m.role] else { return reject(a, "assignment needs a \(m.role) (\(m.spec)) but this worker holds none; start it with the same --model/--refiner", fatal: true) }
            if h.sha256 != m.sha256 { return reject(a, "model digest mismatch for \(m.role): assignment \(m.spec)@\(m.sha256.prefix(12)), worker \(h.spec)@\(h.sha256.prefix(12))", fatal: true) }
        }
        if !a.evalSet.prompts.isEmpty && !backend.hasTextConditioning {
            return reject(a, "the model has no text conditioning; prompt files need a text model", fatal: true)
        }
        // Bounds keep a malformed assignment from overflowing index arithmetic or allocating without limit.
        let n = Int(exactly: a.count) ?? -1, batch = Int(a.batch), first = Int(exactly: a.firstIndex) ?? -1
        let promptsOK = a.evalSet.prompts.isEmpty || a.evalSet.prompts.count == n
        guard n > 0, n <= 1 << 22, batch > 0, batch <= 1 << 16, first >= 0, first <= Int(Int32.max),
              a.labels.count == n, promptsOK else {
            return reject(a, "malformed assignment (first \(a.firstIndex), count \(a.count), batch \(batch), "
                + "\(a.labels.count) labels, \(a.evalSet.prompts.count) prompts)", fatal: false)
        }
        if let p = try? Plan.parse(a.plan), p.steps > config.maxPlanSteps {
            return reject(a, "plan \(a.plan) has \(p.steps) steps, over this worker's limit of \(config.maxPlanSteps)", fatal: true)
        }
        let step = a.refinerStep.isEmpty ? "heun" : a.refinerStep
        let key = "\(a.plan)|\(batch)|\(a.guidanceScale)|\(a.guidanceChannels)|\(step)"
        let program: ShardProgram
        if let p = programs[key] { program = p } else {
            do {
                program = try backend.makeProgram(plan: a.plan, batch: batch, guidanceScale: a.guidanceScale,
                                                  guidanceChannels: Int(a.guidanceChannels), refinerStep: step)
            }
            catch { return reject(a, "cannot compile plan \"\(a.plan)\": \(error)", fatal: true) }
            programs[key] = program
        }
        lock.lock(); busy = true; currentShard = a.shardID; lock.unlock()
        let workerID = config.workerID, delay = config.batchDelayMs, poison = config.injectNonFinite
        let queueWait = max(0, Date().timeIntervalSince(lastWorkRequest))
        let backend = self.backend
        let t = Thread { [self] in
            var bytes: [UInt8]?, failure = ""
            do {
                bytes = try Worker.compute(a, program: program, workerID: workerID, batchDelayMs: delay,
                                           poison: poison, queueWaitSeconds: queueWait,
                                           captions: { try backend.captions(for: $0) })
            } catch {
                failure = "cannot encode the shard's prompts: \(error)"
            }
            // Publish and wake under the lock: the control thread sees the outcome only under this lock, so it cannot
            // return from run() and close the wake socket while this send is in progress (a use-after-free the worker
            // fuzz target hit as SIGSEGV).
            self.lock.lock()
            if let b = bytes {
                self.finishedResult = b
            } else {
                var e = Flowturbo_V1_Error()
                e.workerID = workerID
                e.shardID = a.shardID
                e.leaseID = a.leaseID
                e.message = failure
                self.finishedError = e
            }
            try? self.wakeSender?.send([[UInt8]()], dontWait: true)
            self.lock.unlock()
        }
        t.name = "compute"
        t.start()
        summary.shards += 1
        summary.samples += n
    }
}
