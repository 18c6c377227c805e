import ArgumentParser
import FlowCluster
import FlowTensor
import Foundation

/// `flowturbo bench control-plane`: how many workers one coordinator serves (simulated workers, real protocol).
struct BenchControlPlane: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control-plane",
        abstract: "Ramp in-process simulated workers against one coordinator: completions/s, lease and heartbeat "
            + "latency, CPU, and where it saturates.")

    @Option(help: "Comma-separated fleet sizes to ramp through (stops after the first saturated size).")
    var workers: String = "100,500,1000,2000,3000"
    @Option(help: "Simulated compute seconds per shard (offered load = workers / shard-seconds).")
    var shardSeconds: Double = 1
    @Option(help: "Measured seconds per fleet size (after a warm-up).")
    var seconds: Double = 5
    @Option(help: "Warm-up seconds per fleet size (hellos, first leases).")
    var warmupSeconds: Double = 2
    @Option(help: "Threads serving the simulated workers.")
    var threads: Int = 2
    @Option(help: "Heartbeat interval (ms) of coordinator and workers.")
    var heartbeatMs: Int = 1000
    @Flag(help: "Keep ramping after a saturated size.")
    var keepGoing = false
    @Option(help: "Write the table as JSON here.")
    var json: String?
    @Option(help: "Scratch directory (runs are deleted afterwards).")
    var dir: String = NSTemporaryDirectory() + "flowturbo-bench-control-plane"

    func validate() throws {
        guard parsedWorkers.count > 0, parsedWorkers.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--workers: give positive counts, e.g. 100,500,1000")
        }
        guard shardSeconds > 0, seconds > 0, warmupSeconds >= 0, threads > 0, heartbeatMs > 0 else {
            throw ValidationError("--shard-seconds, --seconds, --threads and --heartbeat-ms must be positive")
        }
    }

    var parsedWorkers: [Int] {
        workers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    func run() throws {
        StopSignals.install()
        let limit = ControlPlaneBench.raiseFileLimit()
        var o = ControlPlaneBench.Options()
        o.shardSeconds = shardSeconds
        o.seconds = seconds
        o.warmupSeconds = warmupSeconds
        o.threads = threads
        o.heartbeatIntervalMs = heartbeatMs
        print(
            "open-file limit \(limit) (~\(ControlPlaneBench.fdsPerWorker) per simulated worker); "
                + "\(ProcessInfo.processInfo.activeProcessorCount) cores; shards of \(shardSeconds) s; heartbeat \(heartbeatMs) ms"
        )
        print(
            "workers  offered/s  done/s  lease p50/p99 ms  hb gap p50/p99 ms  loop CPU  coord CPU  fleet CPU  ms CPU/done  fsyncs"
        )
        var levels: [ControlPlaneBench.Level] = []
        var stopReason = "every size ran"
        for n in parsedWorkers {
            if StopSignals.requested { break }
            if n * ControlPlaneBench.fdsPerWorker + 256 > limit {
                stopReason =
                    "\(n) workers need ~\(n * ControlPlaneBench.fdsPerWorker) file descriptors, over the limit \(limit)"
                break
            }
            let d = dir + "/w\(n)"
            try? FileManager.default.removeItem(atPath: d)
            defer { try? FileManager.default.removeItem(atPath: d) }
            let l = try ControlPlaneBench.run(workers: n, options: o, dir: d)
            levels.append(l)
            print(
                String(
                    format:
                        "%7d  %9.0f  %6.0f  %7.1f / %-7.1f  %7.0f / %-7.0f  %7.0f%%  %8.0f%%  %8.0f%%  %11.2f  %6d%@",
                    l.workers, l.offeredPerSecond, l.completionsPerSecond, l.leaseP50Ms, l.leaseP99Ms,
                    l.heartbeatGapP50Ms, l.heartbeatGapP99Ms, l.coordinatorLoopCPU, l.coordinatorCPU, l.fleetCPU,
                    l.cpuMsPerCompletion, l.commitBatches, l.saturated ? "  saturated" : ""))
            if l.saturated && !keepGoing {
                stopReason = "saturated at \(n) workers"
                break
            }
        }
        print(stopReason)
        if let best = levels.filter({ !$0.saturated }).max(by: { $0.completionsPerSecond < $1.completionsPerSecond }) {
            print(
                String(
                    format: "largest unsaturated: %d workers, %.0f completions/s", best.workers,
                    best.completionsPerSecond))
        }
        if let path = json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try FileIO.writeAtomically(path, Array(try enc.encode(levels)))
        }
    }
}
