import ArgumentParser
import FlowCluster
import FlowProto
import FlowSampler
import FlowTensor
import Foundation

/// A one-float "model" so the control plane, not sampling, is what gets measured.
private final class TinyProgram: ShardProgram {
    let sampleShape = [1]
    func run(
        seed: UInt64, firstIndex: Int, count: Int, labels: UnsafePointer<Int32>, out: UnsafeMutablePointer<Float>
    ) -> RunStats {
        for r in 0..<count { out[r] = Float(firstIndex + r) }
        return RunStats()
    }
    func nfe(ofRow row: Int) -> Int { 1 }
}

private final class TinyBackend: WorkerBackend {
    let models: [Flowturbo_V1_ModelDigest]
    var hasTextConditioning: Bool { false }
    init() {
        var m = Flowturbo_V1_ModelDigest()
        m.spec = "tiny"
        m.sha256 = "tiny"
        m.role = "predictor"
        models = [m]
    }
    func makeProgram(plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int) throws -> ShardProgram {
        TinyProgram()
    }
}

/// `flowturbo bench cluster`: control-plane capacity and 1-vs-N worker scaling.
struct BenchCluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract:
            "Shard completions/s with tiny latents (journal fsync included), and throughput with 1 vs N worker processes."
    )

    @Option(help: "Shards for the control-plane test (one 1-float sample each).")
    var shards: Int = 2000
    @Option(help: "In-process workers for the control-plane test.")
    var controlWorkers: Int = 2
    @Option(
        help:
            "Simulated workers (one result as soon as leased) instead of worker threads for the control-plane test (0 = threads)."
    )
    var simulatedWorkers: Int = 0
    @Option(help: "Model for the scaling test.")
    var model: String = "gmm:mnist"
    @Option(help: "Plan for the scaling test.")
    var plan: String = "H8"
    @Option(help: "Samples for the scaling test.")
    var samples: Int = 512
    @Option(help: "Batch for the scaling test.")
    var batch: Int = 16
    @Option(help: "Largest worker count for the scaling test (compared with 1).")
    var workers: Int = 2
    @Option(help: "Scratch directory (runs are deleted afterwards).")
    var dir: String = NSTemporaryDirectory() + "flowturbo-bench-cluster"

    func run() throws {
        StopSignals.install()
        try? FileManager.default.removeItem(atPath: dir)
        try FileIO.makeDirectories(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // 1. Control plane: in-process coordinator + worker threads returning one float per shard.
        let ctx = try ZMQContext()
        let evalSet = try EvalSet(samples: shards, classes: 1, seed: 0)
        var cfg = CoordinatorConfig(
            controlBind: "tcp://127.0.0.1:0", dataBind: "tcp://127.0.0.1:0", outDir: dir + "/control",
            evalSet: evalSet, plan: "tiny", batch: 1, shardSize: 1, models: TinyBackend().models, sampleShape: [1])
        cfg.progress = false
        let coordinator = try Coordinator(config: cfg, context: ctx)
        var fleet: SimulatedFleet?
        if simulatedWorkers > 0 {
            ControlPlaneBench.raiseFileLimit()
            var fc = SimulatedFleet.Config(
                workers: simulatedWorkers, control: "tcp://127.0.0.1:\(coordinator.controlPort)",
                models: TinyBackend().models)
            fc.shardSeconds = 0
            fleet = try SimulatedFleet(config: fc)
            fleet?.start()
        }
        for i in 0..<(simulatedWorkers > 0 ? 0 : controlWorkers) {
            let w = Worker(
                config: WorkerConfig(connect: "tcp://127.0.0.1:\(coordinator.controlPort)", workerID: "bench-\(i)"),
                backend: TinyBackend(), context: ctx)
            Thread { _ = try? w.run() }.start()
        }
        let started = Date()
        let lastCommit = LastCommit()
        coordinator.onCommit = { _, _ in lastCommit.now() }
        let s = try coordinator.run()
        _ = fleet?.stop()
        let commitSeconds = lastCommit.seconds(since: started)
        let rate = Double(s.committedThisSession) / commitSeconds
        let who = simulatedWorkers > 0 ? "\(simulatedWorkers) simulated workers" : "\(controlWorkers) worker threads"
        let a = s.aggregator
        print(
            String(
                format:
                    "control plane: %d shard completions in %.2f s = %.0f shards/s (%@; group commit: %d shard-log fsyncs, %.1f shards each, journal group-committed)",
                s.committedThisSession, commitSeconds, rate, who, a.commitBatches,
                Double(a.committed) / Double(max(1, a.commitBatches))))
        print(
            String(
                format:
                    "shard files: %d written off the commit path from %d log segments in %.2f s (%.0f µs/file); run incl. files durable %.2f s = %.0f shards/s",
                a.shardFiles, a.checkpoints, a.shardFileSeconds,
                1e6 * a.shardFileSeconds / Double(max(1, a.shardFiles)),
                s.elapsedSeconds, Double(s.committedThisSession) / s.elapsedSeconds))

        // 2. Scaling: the same run with 1 and N local worker processes.
        var times: [Int: Double] = [:]
        for n in [1, workers] {
            var spec = RunSpec(model: model, refiner: nil, plan: plan, outDir: dir + "/scale-\(n)")
            spec.samples = samples
            spec.batch = batch
            var c = try spec.coordinatorConfig(controlBind: "tcp://127.0.0.1:0", dataBind: "tcp://127.0.0.1:0")
            c.progress = false
            let co = try Coordinator(config: c, context: ctx)
            let procs = WorkerProcesses(
                count: n,
                arguments: [
                    "--connect", "tcp://127.0.0.1:\(co.controlPort)", "--model", model, "--log-level", "warning",
                ])
            let t0 = Date()
            try procs.start()
            let r = try co.run()
            let t = Date().timeIntervalSince(t0)
            procs.reap()
            times[n] = t
            print(
                String(
                    format:
                        "scaling: %d worker(s): %d samples of %@ (%@, batch %d) in %.2f s = %.1f samples/s (incl. process start + model load)",
                    n, r.committedThisSession * c.shardSize, model, plan, batch, t, Double(samples) / t))
        }
        if let t1 = times[1], let tn = times[workers] {
            print(
                String(
                    format:
                        "scaling efficiency 1 → %d workers: speedup %.2f×, efficiency %.0f%% (%d cores on this machine)",
                    workers, t1 / tn, 100 * t1 / (Double(workers) * tn), ProcessInfo.processInfo.activeProcessorCount))
        }
    }
}

/// When the coordinator last reported a commit (its hook runs on the coordinator thread).
private final class LastCommit: @unchecked Sendable {
    private let lock = NSLock()
    private var at = Date()

    func now() {
        lock.lock()
        at = Date()
        lock.unlock()
    }

    func seconds(since start: Date) -> Double {
        lock.lock()
        defer { lock.unlock() }
        return max(1e-9, at.timeIntervalSince(start))
    }
}
