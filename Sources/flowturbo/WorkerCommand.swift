import ArgumentParser
import FlowCluster
import FlowModels
import FlowTensor
import Foundation

/// `flowturbo worker`: one sampling process (run one per core) serving a coordinator.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract:
            "Connect to a coordinator, run assigned shards with one compiled program per (plan, batch), push latents.")

    @Option(help: "Coordinator control endpoint.")
    var connect: String = "tcp://127.0.0.1:5555"
    @Option(help: "Predictor model spec (must match the coordinator's digest).")
    var model: String?
    @Option(help: "Refiner .safetensors (default: the one the model's metadata recommends; `none` = no refiner).")
    var refiner: String?
    @Option(
        help: ArgumentHelp(
            "MiniLM folder for a caption-conditioned model (default: Models/minilm).",
            valueName: "DIR"))
    var textEncoder: String?
    @Option(help: "Worker id (default HOST:PID).")
    var id: String?
    @Option(help: "Exit when this process is no longer the parent (set by `flowturbo run`).")
    var parentPid: Int32?
    @Option(help: "Exit with an error after this many seconds without a coordinator.")
    var giveUpSeconds: Double = 60
    @Option(help: .hidden)
    var batchDelayMs: Int = 0
    @Flag(help: .hidden)
    var injectNan = false
    @Option(help: "Refuse assignments whose plan has more solver steps than this.")
    var maxPlanSteps: Int = 4096
    @Option(help: "Coordinator public key (coordinator.pub): CurveZMQ encryption; needs --curve-secret.")
    var curveServerKey: String?
    @Option(help: "This worker's secret key (NAME.key; its .pub must be on the coordinator's --allow list).")
    var curveSecret: String?
    @Option(
        help: ArgumentHelp(
            "Heartbeat interval in ms (100 to 60000; the coordinator's, from its welcome, when shorter).",
            valueName: "MS"))
    var heartbeatMs: Int = 1000
    @Option(
        help: ArgumentHelp(
            "Log level on stderr: \(ClusterLog.levels.joined(separator: ", ")) (default info).",
            valueName: "LEVEL"))
    var logLevel: String = "info"

    func run() throws {
        StopSignals.install()
        ClusterLog.threshold = try ClusterLog.parse(logLevel)
        try LiveOpsOptions.checkHeartbeat(heartbeatMs)
        Gemm.setThreads(1)  // one process per core: OpenBLAS single-threaded
        let r = try ModelDefaults.resolve(model: model, refiner: refiner, plan: nil, refinerStep: nil, guidance: nil)
        let backend = try ModelBackend(model: r.model, refiner: r.refiner, textEncoder: textEncoder)
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        var config = WorkerConfig(connect: connect, workerID: id ?? "\(String(cString: name)):\(getpid())")
        config.parentPID = parentPid
        config.heartbeatIntervalMs = heartbeatMs
        config.giveUpSeconds = giveUpSeconds
        config.batchDelayMs = batchDelayMs
        config.injectNonFinite = injectNan
        config.maxPlanSteps = maxPlanSteps
        guard (curveServerKey == nil) == (curveSecret == nil) else {
            throw FlowError(
                "--curve-server-key and --curve-secret go together (the coordinator's public key and this worker's secret key)"
            )
        }
        // `flowturbo run` hands its workers ephemeral keys in the environment (not on the command line).
        let inherited = try LocalClusterKeys.clientFromEnvironment()
        if let server = curveServerKey, let secret = curveSecret {
            config.curve = CurveClientSecurity(
                serverKey: try CurveKeys.readPublic(server), keys: try CurveKeys.readSecret(secret))
        } else {
            config.curve = inherited
        }
        let worker = Worker(config: config, backend: backend, context: try ZMQContext())
        do { _ = try worker.run() } catch let refused as WorkerRefused {
            FileHandle.standardError.write(Data("\(refused)\n".utf8))
            throw ExitCode(WorkerProcesses.refusedExitStatus)
        }
    }
}
