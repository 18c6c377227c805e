import CZeroMQ
import FlowProto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Many in-process simulated workers speaking the real protocol to one coordinator, for capacity measurements.
///
/// Each simulated worker owns a DEALER (control) and a PUSH (data) socket, says hello, asks for work, "computes"
/// an assignment by waiting `shardSeconds`, pushes a tiny valid result (one float per sample, answering its lease
/// with the lease's id and token) and asks again, and heartbeats every `heartbeatIntervalMs`, like `Worker` does.
/// A few threads serve all of them (`zmq_poll` over their DEALERs), so thousands fit on a small machine.
///
/// Measured: lease latency (WorkRequest sent → ShardAssignment received) and the gaps between the coordinator's
/// heartbeats as each worker sees them (interval + how late the coordinator's loop is).
public final class SimulatedFleet {
    /// Fleet parameters.
    public struct Config {
        public var workers: Int
        public var threads = 2
        /// Coordinator control endpoint, e.g. `tcp://127.0.0.1:5555`.
        public var control: String
        /// Simulated compute time of one shard.
        public var shardSeconds = 1.0
        public var heartbeatIntervalMs = 1000
        /// Models the coordinator's run needs (sent in the hello).
        public var models: [Flowturbo_V1_ModelDigest]

        /// Creates a config with the defaults above.
        public init(workers: Int, control: String, models: [Flowturbo_V1_ModelDigest]) {
            self.workers = workers
            self.control = control
            self.models = models
        }
    }

    /// What the fleet measured (seconds).
    public struct Measurements {
        public var leaseLatencies: [Double] = []
        public var heartbeatGaps: [Double] = []
        public var results = 0
        public var refused = 0
        /// CPU seconds the fleet's own threads used.
        public var cpuSeconds = 0.0
    }

    struct Sim {
        var id: String
        var dealer: ZMQSocket
        var push: ZMQSocket?
        var requestedAt: Double?
        var busyUntil: Double?
        var assignment: Flowturbo_V1_ShardAssignment?
        var lastHeartbeatSent: Double
        var lastHeartbeatHeard: Double?
        var stopped = false
    }

    public let config: Config
    private let context: ZMQContext
    private let lock = NSLock()
    private var measuring = false
    private var stopFlag = false
    private var merged = Measurements()
    private let group = DispatchGroup()

    /// Creates the fleet (its own ZeroMQ context, room for every socket); nothing connects until `start`.
    public init(config: Config) throws {
        precondition(config.workers > 0 && config.threads > 0)
        self.config = config
        context = try ZMQContext()
        zmq_ctx_set(context.handle, ZMQ_MAX_SOCKETS, Int32(2 * config.workers + 64))
    }

    /// Seconds on a monotonic clock.
    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Starts the serving threads; each connects its share of the workers.
    public func start() {
        for t in 0..<config.threads {
            let mine = Array(stride(from: t, to: config.workers, by: config.threads))
            group.enter()
            Thread { [self] in
                self.serve(mine)
                self.group.leave()
            }.start()
        }
    }

    /// Starts (or restarts) recording: measurements before this call are dropped.
    public func beginMeasuring() {
        lock.lock()
        measuring = true
        merged = Measurements()
        lock.unlock()
    }

    /// Stops every thread, closes the sockets and returns what was measured since `beginMeasuring`.
    public func stop() -> Measurements {
        lock.lock()
        stopFlag = true
        lock.unlock()
        group.wait()
        return merged
    }

    private func serve(_ indices: [Int]) {
        var cpuAtMeasure: Double?
        var sims: [Sim] = []
        for i in indices {
            guard let d = try? context.socket(.dealer) else { continue }
            try? d.setLinger(0)
            try? d.connect(config.control)
            let sim = Sim(id: "sim-\(i)", dealer: d, lastHeartbeatSent: SimulatedFleet.now())
            send(sim.dealer) { $0.hello = hello(sim.id) }
            sims.append(sim)
        }
        var local = Measurements()
        let hb = Double(config.heartbeatIntervalMs) / 1000
        while true {
            lock.lock()
            let stop = stopFlag
            let record = measuring
            if record {
                merged.leaseLatencies += local.leaseLatencies
                merged.heartbeatGaps += local.heartbeatGaps
                merged.results += local.results
                merged.refused += local.refused
            }
            lock.unlock()
            local = Measurements()
            if record && cpuAtMeasure == nil { cpuAtMeasure = ThreadCPU.seconds() }
            if stop { break }
            let ready = (try? ZMQPoll.readable(sims.map { $0.dealer }, timeoutMs: 5)) ?? []
            let t = SimulatedFleet.now()
            for k in sims.indices where !sims[k].stopped {
                if k < ready.count && ready[k] { receive(&sims[k], at: t, into: &local) }
                if let due = sims[k].busyUntil, due <= t { finish(&sims[k], at: t, into: &local) }
                if t - sims[k].lastHeartbeatSent >= hb {
                    sims[k].lastHeartbeatSent = t
                    send(sims[k].dealer) { $0.heartbeat.workerID = sims[k].id }
                }
            }
        }
        let cpu = ThreadCPU.seconds() - (cpuAtMeasure ?? ThreadCPU.seconds())
        for s in sims {
            s.dealer.close()
            s.push?.close()
        }
        lock.lock()
        merged.cpuSeconds += cpu
        lock.unlock()
    }

    private func hello(_ id: String) -> Flowturbo_V1_WorkerHello {
        var h = Flowturbo_V1_WorkerHello()
        h.workerID = id
        h.host = "simulated"
        h.cores = 1
        h.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
        h.models = config.models
        h.pid = UInt32(getpid())
        return h
    }

    private func send(_ socket: ZMQSocket, _ fill: (inout Flowturbo_V1_Envelope) -> Void) {
        var e = Flowturbo_V1_Envelope()
        fill(&e)
        if let bytes = try? e.serializedBytes() as [UInt8] { try? socket.send(bytes, dontWait: true) }
    }

    private func request(_ s: inout Sim, at t: Double) {
        s.requestedAt = t
        send(s.dealer) { $0.workRequest.workerID = s.id }
    }

    private func receive(_ s: inout Sim, at t: Double, into m: inout Measurements) {
        while let frames = try? s.dealer.receive(dontWait: true), frames.count == 1 {
            guard let env = try? Flowturbo_V1_Envelope(serializedBytes: frames[0]) else { continue }
            switch env.body {
            case .welcome(let w)?:
                let host = config.control[..<(config.control.lastIndex(of: ":") ?? config.control.endIndex)]
                if s.push == nil, let p = try? context.socket(.push) {
                    try? p.setLinger(0)
                    try? p.connect("\(host):\(w.dataPort)")
                    s.push = p
                }
                if s.busyUntil == nil { request(&s, at: t) }
            case .assignment(let a)?:
                if let r = s.requestedAt { m.leaseLatencies.append(t - r) }
                s.requestedAt = nil
                s.assignment = a
                s.busyUntil = t + config.shardSeconds
            case .heartbeat?:
                if let last = s.lastHeartbeatHeard { m.heartbeatGaps.append(t - last) }
                s.lastHeartbeatHeard = t
            case .noWork(let n)?:
                if n.retryAfterMs == 0 { send(s.dealer) { $0.hello = hello(s.id) } }
            case .shutdown(let x)?:
                if x.refused { m.refused += 1 }
                s.stopped = true
            default:
                break
            }
        }
    }

    /// Pushes the tiny result of the finished assignment and asks for the next one.
    private func finish(_ s: inout Sim, at t: Double, into m: inout Measurements) {
        defer {
            s.busyUntil = nil
            s.assignment = nil
        }
        guard let a = s.assignment, let push = s.push else { return }
        let n = Int(a.count)
        var r = Flowturbo_V1_ShardResult()
        r.shardID = a.shardID
        r.leaseID = a.leaseID
        r.leaseToken = a.leaseToken
        r.workerID = s.id
        r.firstIndex = a.firstIndex
        r.count = a.count
        r.shape = [UInt32(n), 1]
        let latents = (0..<n).map { Float(Int(a.firstIndex) + $0) }
        r.latents = latents.withUnsafeBytes { Data($0) }
        r.labels = a.labels
        r.nfe = [UInt32](repeating: 1, count: n)
        r.batchSeconds = [config.shardSeconds]
        var e = Flowturbo_V1_Envelope()
        e.result = r
        if let bytes = try? e.serializedBytes() as [UInt8], (try? push.send(bytes, dontWait: true)) != nil {
            m.results += 1
        }
        request(&s, at: t)
    }
}

/// CPU time of the calling thread.
public enum ThreadCPU {
    /// Seconds of CPU the calling thread has used.
    public static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
