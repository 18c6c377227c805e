import ArgumentParser
import FlowCluster
import FlowModels
import FlowTensor
import Foundation

/// Run parameters shared by `flowturbo coordinator` and `flowturbo run`.
struct ClusterRunOptions: ParsableArguments {
    @Option(help: "Number of class-conditional samples (labels i mod K unless --labels random).")
    var samples: Int = 1000
    @Option(help: "Sampling plan, e.g. H8, H2P4R2, E16, dopri5 (default: H2P4R2 with a refiner, else H8).")
    var plan: String?
    @Option(help: "Predictor model spec: gmm:synthetic, gmm:mnist or a .safetensors path (default: the shipped default).")
    var model: String?
    @Option(help: "Refiner .safetensors (enables R steps).")
    var refiner: String?
    @Option(help: "Classifier-free guidance scale (1 = off).")
    var cfg: Float = 1
    @Option(help: "Guidance channels (0 = all; 3 = the official quirk).")
    var cfgChannels: Int = 0
    @Option(help: "Batch size of the compiled sampling program (results are bitwise stable for a fixed batch).")
    var batch: Int = 16
    @Option(help: "Seed of noise and random labels.")
    var seed: UInt64 = 0
    @Option(help: "Label mode: balanced (i mod K) or random (from the seed).")
    var labels: String = "balanced"
    @Option(help: "Text-to-image prompt file (one prompt per line or JSONL {\"id\",\"prompt\"}); needs a text model.")
    var prompts: String?
    @Option(help: "Samples per shard (rounded up to a multiple of --batch; default 4 batches).")
    var shardSize: Int = 0
    @Option(help: "Run directory (latents/, journal.log, manifest.json, report.json).")
    var out: String = "runs/latest"
    @Flag(help: "Continue the run in --out from its journal without recomputing committed shards.")
    var resume = false
    @Flag(help: "Delete a previous run in --out (journal, latents, reports) and start over.")
    var overwrite = false
    @Flag(help: "Also write samples.npz (arr_0 = samples, labels) at the end.")
    var exportNpz = false
    @Option(help: "Seconds before an uncommitted lease is re-queued even if its worker still heartbeats.")
    var leaseSeconds: Double = 600
    @Option(help: "Reference statistics file (FlowStats stats .npz) to compute FD/PRDC/KID/SWD against in report.json.")
    var reference: String?
    @Flag(help: "No progress bar.")
    var quiet = false

    /// The resolved run spec (defaults filled in).
    func spec() throws -> RunSpec {
        let m = model ?? ModelLoader.defaultPredictorSpec
        var s = RunSpec(model: m, refiner: refiner, plan: plan ?? (refiner != nil ? "H2P4R2" : "H8"), outDir: out)
        guard let mode = EvalSet.LabelMode(rawValue: labels) else {
            throw FlowError("--labels \(labels): expected one of \(EvalSet.LabelMode.allCases.map { $0.rawValue }.joined(separator: ", "))")
        }
        s.samples = samples; s.guidanceScale = cfg; s.guidanceChannels = cfgChannels; s.batch = batch; s.seed = seed
        s.labelMode = mode; s.promptFile = prompts; s.shardSize = shardSize; s.resume = resume
        if overwrite {
            guard !resume else { throw FlowError("--overwrite and --resume contradict each other; pick one") }
            for name in ["journal.log", "latents", "manifest.json", "report.json", "report.md", "samples.npz",
                         "latency.png", "throughput.png", "samples.png", "endpoints.json"] {
                try? FileManager.default.removeItem(atPath: out + "/" + name)
            }
        }
        return s
    }

    /// Worker flags that make a worker hold the same models.
    func workerModelArguments(_ spec: RunSpec) -> [String] {
        ["--model", spec.model] + (spec.refiner.map { ["--refiner", $0] } ?? [])
    }
}

/// Writes manifest, report and (optionally) samples.npz after a completed run and prints the report.
func finishRun(outDir: String, summary: CoordinatorSummary, workers: Int, exportNPZ: Bool, reference: String?) throws {
    try RunOutput.writeManifest(outDir: outDir)
    let md = try RunOutput.writeReport(outDir: outDir, summary: summary, workers: workers, reference: reference)
    if exportNPZ { print("wrote \(try RunOutput.exportNPZ(outDir: outDir))") }
    print(md)
}

/// `flowturbo coordinator`: the control plane + aggregator for workers on any host.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Shard an evaluation set over ZeroMQ to `flowturbo worker` processes; write latents, journal, report.")

    @Option(help: "Control endpoint (ROUTER) workers connect to.")
    var bind: String = "tcp://*:5555"
    @Option(help: "Data endpoint (aggregator PULL); default: control port + 1.")
    var dataBind: String?
    @OptionGroup var opts: ClusterRunOptions

    func run() throws {
        StopSignals.install()
        let spec = try opts.spec()
        var config = try spec.coordinatorConfig(controlBind: bind, dataBind: dataBind ?? RunSpec.dataBind(for: bind))
        config.progress = !opts.quiet
        config.leaseSeconds = opts.leaseSeconds
        let context = try ZMQContext()
        let coordinator = try Coordinator(config: config, context: context)
        FileHandle.standardError.write(Data("coordinator: control port \(coordinator.controlPort), data port \(coordinator.dataPort), \(coordinator.shardRanges.count) shards\n".utf8))
        try writeEndpoints(outDir: spec.outDir, control: coordinator.controlPort, data: coordinator.dataPort)
        let summary = try coordinator.run()
        if !summary.completed {
            FileHandle.standardError.write(Data("interrupted: journal is consistent; rerun with --resume to continue\n".utf8))
            throw ExitCode(130)
        }
        try finishRun(outDir: spec.outDir, summary: summary, workers: summary.workersSeen, exportNPZ: opts.exportNpz, reference: opts.reference)
    }
}

/// Records the bound ports in `<out>/endpoints.json` (tests and scripts read it).
func writeEndpoints(outDir: String, control: Int, data: Int) throws {
    let text = "{\"control_port\": \(control), \"data_port\": \(data), \"pid\": \(getpid())}\n"
    try FileIO.writeAtomically(outDir + "/endpoints.json", Array(text.utf8))
}
