import FlowProto
import FlowStats
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One level of the simulated-scale benchmark: a real coordinator (journal, group commit, aggregator) on loopback
/// TCP and `workers` simulated workers (`SimulatedFleet`), measured for `seconds` after a warm-up.
public enum ControlPlaneBench {
    /// What one level measured.
    public struct Level: Codable, Equatable {
        public var workers: Int
        /// Shards/s the workers would complete if the coordinator kept up (workers / shard seconds).
        public var offeredPerSecond: Double
        public var completionsPerSecond: Double
        public var leaseP50Ms: Double, leaseP99Ms: Double
        /// Gaps between the coordinator's heartbeats as the workers see them (the interval when it keeps up).
        public var heartbeatGapP50Ms: Double, heartbeatGapP99Ms: Double
        /// CPU of the coordinator's control loop thread, and of the whole coordinator side (control loop,
        /// aggregator, ZeroMQ I/O threads: the process minus the simulated workers), in % of one core.
        public var coordinatorLoopCPU: Double, coordinatorCPU: Double
        /// CPU of the simulated workers' threads (% of one core).
        public var fleetCPU: Double
        /// Coordinator-side CPU milliseconds per completion (what one core's capacity follows from).
        public var cpuMsPerCompletion: Double
        /// Group commits (shard-log fsyncs) during the level and results refused.
        public var commitBatches: Int
        public var refused: Int
        public var seconds: Double
        /// The coordinator no longer keeps up (completions < 90% of offered, or lease p99 over 1 s, or heartbeat
        /// gaps p99 over twice the interval).
        public var saturated: Bool
    }

    /// Parameters of a level.
    public struct Options {
        public var shardSeconds = 1.0
        public var warmupSeconds = 2.0
        public var seconds = 5.0
        public var threads = 2
        public var heartbeatIntervalMs = 1000

        /// Defaults: 1-s shards, 2-s warm-up, 5-s measurement, 2 fleet threads, 1-s heartbeats.
        public init() {}
    }

    /// File descriptors one simulated worker costs this process (DEALER + PUSH: mailbox and TCP connection each,
    /// and the coordinator's two accepted connections).
    public static let fdsPerWorker = 6

    /// Raises the soft (and, as root, the hard) open-file limit as far as the system allows; returns the new limit.
    @discardableResult
    public static func raiseFileLimit() -> Int {
        var r = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r)
        let nrOpen =
            (try? String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8))
            .flatMap { UInt(($0).trimmingCharacters(in: .whitespacesAndNewlines)) } ?? UInt(r.rlim_max)
        var want = rlimit(
            rlim_cur: rlim_t(max(UInt(r.rlim_max), nrOpen)), rlim_max: rlim_t(max(UInt(r.rlim_max), nrOpen)))
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &want) != 0 {
            want = rlimit(rlim_cur: r.rlim_max, rlim_max: r.rlim_max)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &want)
        }
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r)
        return Int(r.rlim_cur)
    }

    /// Runs one level in `dir` (created, left for the caller to delete).
    public static func run(workers: Int, options o: Options, dir: String) throws -> Level {
        let offered = Double(workers) / o.shardSeconds
        let shards = Int(offered * (o.warmupSeconds + o.seconds + 2) * 1.5) + 2 * workers + 16
        let context = try ZMQContext()
        var m = Flowturbo_V1_ModelDigest()
        m.spec = "tiny"
        m.sha256 = "tiny"
        m.role = "predictor"
        var cfg = CoordinatorConfig(
            controlBind: "tcp://127.0.0.1:0", dataBind: "tcp://127.0.0.1:0", outDir: dir,
            evalSet: try EvalSet(samples: shards, classes: 1, seed: 0), plan: "tiny", batch: 1, shardSize: 1,
            models: [m], sampleShape: [1])
        cfg.progress = false
        cfg.heartbeatIntervalMs = o.heartbeatIntervalMs
        let coordinator = try Coordinator(config: cfg, context: context)
        let probe = Probe()
        coordinator.onTick = { probe.tick(ThreadCPU.seconds()) }
        coordinator.onCommit = { done, _ in probe.commit(done) }
        let finished = DispatchSemaphore(value: 0)
        Thread {
            _ = try? coordinator.run()
            finished.signal()
        }.start()
        var fc = SimulatedFleet.Config(
            workers: workers, control: "tcp://127.0.0.1:\(coordinator.controlPort)", models: [m])
        fc.threads = o.threads
        fc.shardSeconds = o.shardSeconds
        fc.heartbeatIntervalMs = o.heartbeatIntervalMs
        let fleet = try SimulatedFleet(config: fc)
        fleet.start()
        Thread.sleep(forTimeInterval: o.warmupSeconds)
        fleet.beginMeasuring()
        let a = probe.snapshot()
        let t0 = SimulatedFleet.now()
        let cpu0 = processCPU()
        let batches0 = coordinator.aggregator.stats.commitBatches
        Thread.sleep(forTimeInterval: o.seconds)
        let b = probe.snapshot()
        let t1 = SimulatedFleet.now()
        let cpu1 = processCPU()
        let batches1 = coordinator.aggregator.stats.commitBatches
        let fm = fleet.stop()
        coordinator.abort("benchmark level finished")
        finished.wait()
        let dt = t1 - t0
        let lease = fm.leaseLatencies.sorted()
        let gaps = fm.heartbeatGaps.sorted()
        let rate = Double(b.done - a.done) / dt
        let fleetShare = min(fm.cpuSeconds, cpu1 - cpu0)
        var level = Level(
            workers: workers, offeredPerSecond: offered, completionsPerSecond: rate,
            leaseP50Ms: 1000 * quantile(lease, 0.5), leaseP99Ms: 1000 * quantile(lease, 0.99),
            heartbeatGapP50Ms: 1000 * quantile(gaps, 0.5), heartbeatGapP99Ms: 1000 * quantile(gaps, 0.99),
            coordinatorLoopCPU: 100 * (b.cpu - a.cpu) / dt, coordinatorCPU: 100 * (cpu1 - cpu0 - fleetShare) / dt,
            fleetCPU: 100 * fm.cpuSeconds / dt,
            cpuMsPerCompletion: rate > 0 ? 1000 * (cpu1 - cpu0 - fleetShare) / (rate * dt) : 0,
            commitBatches: batches1 - batches0, refused: fm.refused,
            seconds: dt, saturated: false)
        level.saturated =
            rate < 0.9 * offered || level.leaseP99Ms > 1000
            || level.heartbeatGapP99Ms > 2.0 * Double(o.heartbeatIntervalMs)
        return level
    }

    /// Nearest-rank quantile of sorted values (0 when empty).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
    }

    /// User + system CPU seconds of this process.
    static func processCPU() -> Double {
        var u = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    /// What the coordinator thread reports through its hooks.
    final class Probe: @unchecked Sendable {
        private let lock = NSLock()
        private var cpu = 0.0, done = 0

        func tick(_ seconds: Double) {
            lock.lock()
            cpu = seconds
            lock.unlock()
        }

        func commit(_ samples: Int) {
            lock.lock()
            done = samples
            lock.unlock()
        }

        func snapshot() -> (cpu: Double, done: Int) {
            lock.lock()
            defer { lock.unlock() }
            return (cpu, done)
        }
    }
}
