import ArgumentParser
import FlowCluster
import FlowModels
import FlowTensor
import Foundation

/// `flowturbo worker`: one sampling process (run one per core) serving a coordinator.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Connect to a coordinator, run assigned shards with one compiled program per (plan, batch), push latents.")

    @Option(help: "Coordinator control endpoint.")
    var connect: String = "tcp://127.0.0.1:5555"
    @Option(help: "Predictor model spec (must match the coordinator's digest).")
    var model: String?
    @Option(help: "Refiner .safetensors.")
    var refiner: String?
    @Option(help: "Worker id (default HOST:PID).")
    var id: String?
    @Option(help: "Exit when this process is no longer the parent (set by `flowturbo run`).")
    var parentPid: Int32?
    @Option(help: "Exit with an error after this many seconds without a coordinator.")
    var giveUpSeconds: Double = 60
    @Option(help: .hidden)
    var batchDelayMs: Int = 0

    func run() throws {
        StopSignals.install()
        Gemm.setThreads(1)   // one process per core: OpenBLAS single-threaded
        let backend = try ModelBackend(model: model ?? ModelLoader.defaultPredictorSpec, refiner: refiner)
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        var config = WorkerConfig(connect: connect, workerID: id ?? "\(String(cString: name)):\(getpid())")
        config.parentPID = parentPid
        config.giveUpSeconds = giveUpSeconds
        config.batchDelayMs = batchDelayMs
        let worker = Worker(config: config, backend: backend, context: try ZMQContext())
        _ = try worker.run()
    }
}
