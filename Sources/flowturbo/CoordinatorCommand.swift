import ArgumentParser
import FlowApp
import FlowCluster
import FlowModels
import FlowSampler
import FlowTensor
import Foundation

/// Run parameters shared by `flowturbo coordinator` and `flowturbo run`.
struct ClusterRunOptions: ParsableArguments {
    @Option(help: "Number of class-conditional samples (labels i mod K unless --labels random).")
    var samples: Int = 1000
    @Option(help: "Sampling plan, e.g. H8, H2P4R2, E16, dopri5 (default: the model's recommended plan, else H8).")
    var plan: String?
    @Option(
        help: "Predictor model spec: gmm:synthetic, gmm:mnist or a .safetensors path (default: the shipped default).")
    var model: String?
    @Option(help: "Refiner .safetensors (default: the one the model's metadata recommends; `none` = no refiner).")
    var refiner: String?
    @Option(
        help: "Shape of R steps: heun (2 refiner calls) or euler (1) (default: the model's recommendation, else heun).")
    var refinerStep: RefinerStep?
    @Option(help: "Classifier-free guidance scale (1 = off; default: the model's recommendation, else 1).")
    var cfg: Float?
    @Option(help: "Guidance channels (0 = all; 3 = the official quirk).")
    var cfgChannels: Int = 0
    @Option(help: "Batch size of the compiled sampling program (results are bitwise stable for a fixed batch).")
    var batch: Int = 16
    @Option(help: "Seed of noise and random labels.")
    var seed: UInt64 = 0
    @Option(help: "Label mode: balanced (i mod K) or random (from the seed).")
    var labels: EvalSet.LabelMode = .balanced
    @Option(
        help: ArgumentHelp(
            "Text-to-image prompt file: one prompt a line (.txt), JSONL with \"prompt\" (+ \"id\", "
                + "\"tag\"/\"category\"), or TSV/CSV with a Prompt/text/caption column; needs a "
                + "caption-conditioned (PixArt-α) model with 384 caption channels (MiniLM).",
            valueName: "FILE"))
    var prompts: String?
    @Option(help: "Images per prompt K with --prompts: sample i = p·K + k (prompt-major), noise from (seed, i).")
    var imagesPerPrompt: Int = 1
    @Option(
        help: ArgumentHelp(
            "MiniLM folder of a prompt run (default: Models/minilm, from Scripts/fetch-minilm.sh).",
            valueName: "DIR"))
    var textEncoder: String?
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
    @Option(
        help:
            "Reference statistics (FlowStats stats .npz) for FD/PRDC/KID/SWD in report.json (default for MNIST-shaped class runs: the shipped MNIST-test statistics in classifier space; `none` = no quality figures)."
    )
    var reference: String?
    @Option(
        help: ArgumentHelp(
            stringLiteral: "Metric space of --reference. " + FeatureSpaces.help
                + " A statistics-only reference must already be in that space (`stats reference --features`)."))
    var features = "raw"
    @Option(help: "Output dimension of --features random-projection.")
    var projectionDim = 64
    @Option(help: "Seed of the random projection.")
    var featureSeed: UInt64 = 0
    @Flag(help: "No progress bar.")
    var quiet = false
    @Option(
        help: ArgumentHelp(
            "Seconds between progress lines when stderr is not a terminal (logs, batch jobs).",
            valueName: "S"))
    var progressInterval: Double = 5
    @Option(
        help: ArgumentHelp(
            "Compute only part I of N of the run's shards (shards s with s mod N = I; I is 0-based, "
                + "0 to N-1) without a shared coordinator; combine the parts with `flowturbo merge`.",
            valueName: "I/N"))
    var part: String?
    @Option(help: "Largest control message in MiB (libzmq drops a peer sending more).")
    var maxMessageMb: Int = 16
    @Option(help: "Largest shard in MiB of float32 latents (a bigger --shard-size is refused).")
    var maxShardMb: Int = 256
    @Option(help: "Most shards leased to one worker at a time.")
    var maxInFlight: Int = 2
    @Option(
        help: ArgumentHelp(
            "Fraction of shards computed by two different workers and compared byte for byte before "
                + "they are written (0 = off, 1 = all); a worker whose latents differ is banned.",
            valueName: "F"))
    var audit: Double = 0

    /// The typed request the application layer runs (`RunApplication`).
    var request: RunRequest {
        var r = RunRequest()
        r.samples = samples
        r.plan = plan
        r.model = model
        r.refiner = refiner
        r.refinerStep = refinerStep
        r.guidance = cfg
        r.guidanceChannels = cfgChannels
        r.batch = batch
        r.seed = seed
        r.labels = labels
        r.prompts = prompts
        r.imagesPerPrompt = imagesPerPrompt
        r.textEncoder = textEncoder
        r.shardSize = shardSize
        r.out = out
        r.resume = resume
        r.overwrite = overwrite
        r.exportNPZ = exportNpz
        r.leaseSeconds = leaseSeconds
        r.report = report
        r.quiet = quiet
        r.progressInterval = progressInterval
        r.part = part
        r.maxMessageMB = maxMessageMb
        r.maxShardMB = maxShardMb
        r.maxInFlight = maxInFlight
        r.audit = audit
        return r
    }

    /// The report settings (reference, feature space) of the request.
    var report: ReportRequest {
        var r = ReportRequest(reference: reference, features: features)
        r.projectionDimension = projectionDim
        r.featureSeed = featureSeed
        return r
    }

    /// Worker flags that make a worker hold the same models (`--refiner none` when the run has no refiner, so the
    /// worker does not load a recommended one the coordinator does not expect).
    func workerModelArguments(_ spec: RunSpec) -> [String] {
        ["--model", spec.model, "--refiner", spec.refiner ?? ModelDefaults.noRefiner]
            + (spec.textEncoder.map { ["--text-encoder", $0] } ?? [])
    }
}

/// Prints how a run was finished (`RunApplication.finish`).
func printFinish(_ finish: RunApplication.Finish, outDir: String) {
    switch finish {
    case .part(let part, let shards):
        print(
            "part \(part) complete (\(shards) shards) in \(outDir); when every part is done: "
                + "flowturbo merge PART_DIRS… --out DIR")
    case .report(let md, let npz):
        if let npz { print("wrote \(npz)") }
        print(md)
    }
}

/// `flowturbo coordinator`: the control plane + aggregator for workers on any host.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Shard an evaluation set over ZeroMQ to `flowturbo worker` processes; write latents, journal, report."
    )

    @Option(
        help:
            "Control endpoint (ROUTER) workers connect to (default: tcp://*:5555 with keys or --insecure, else tcp://127.0.0.1:5555)."
    )
    var bind: String?
    @Option(help: "Data endpoint (aggregator PULL); default: control port + 1.")
    var dataBind: String?
    @Option(
        help:
            "Coordinator secret key (NAME.key from `flowturbo keys generate`): CurveZMQ encryption and worker authentication."
    )
    var curveSecret: String?
    @Option(
        help: "Worker public keys allowed in (with --curve-secret): a directory of .pub files or a file of Z85 keys.")
    var allow: String?
    @Flag(help: "Accept plaintext, unauthenticated workers on non-loopback addresses (trusted networks only).")
    var insecure = false
    @OptionGroup var opts: ClusterRunOptions
    @OptionGroup var live: LiveOpsOptions

    func run() throws {
        StopSignals.install()
        let metricsAddress = try live.check()
        guard (curveSecret == nil) == (allow == nil) else { throw RunSettingError.keysIncomplete }
        let curve = try curveSecret.map {
            CurveServerSecurity(keys: try CurveKeys.readSecret($0), allowed: try CurveKeys.readAllowList(allow!))
        }
        let bind = self.bind ?? Exposure.defaultBind(keyed: curve != nil, insecure: insecure)
        let dataBind = self.dataBind ?? RunSpec.dataBind(for: bind)
        try Exposure.checkCoordinator(binds: [bind, dataBind], keyed: curve != nil, insecure: insecure)
        let request = opts.request
        let spec = try RunApplication.prepare(request)
        var config = try spec.coordinatorConfig(controlBind: bind, dataBind: dataBind)
        config.curve = curve
        try RunApplication.configure(&config, request)
        live.apply(to: &config)
        if curve == nil && self.bind == nil && !insecure {
            FileHandle.standardError.write(
                Data(
                    "coordinator: no keys, listening on loopback only (\(bind)); see --curve-secret/--allow or --insecure\n"
                        .utf8))
        }
        let context = try ZMQContext()
        let coordinator = try Coordinator(config: config, context: context)
        FileHandle.standardError.write(
            Data(
                "coordinator: control port \(coordinator.controlPort), data port \(coordinator.dataPort), \(coordinator.shardRanges.count) shards\n"
                    .utf8))
        try RunDirectory.writeEndpoints(spec.outDir, control: coordinator.controlPort, data: coordinator.dataPort)
        let metrics = try live.startMetrics(metricsAddress, coordinator: coordinator)
        defer { metrics?.stop() }
        let summary = try coordinator.run()
        if !summary.completed {
            FileHandle.standardError.write(
                Data("interrupted: journal is consistent; rerun with --resume to continue\n".utf8))
            throw ExitCode(130)
        }
        let finish = try RunApplication.finish(
            spec: spec, summary: summary, workers: summary.workersSeen,
            report: opts.report, exportNPZ: opts.exportNpz)
        printFinish(finish, outDir: spec.outDir)
        metrics?.lingerAfterRun()
    }
}
