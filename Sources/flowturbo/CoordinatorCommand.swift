import ArgumentParser
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
    @Option(help: "Predictor model spec: gmm:synthetic, gmm:mnist or a .safetensors path (default: the shipped default).")
    var model: String?
    @Option(help: "Refiner .safetensors (default: the one the model's metadata recommends; `none` = no refiner).")
    var refiner: String?
    @Option(help: "Shape of R steps: heun (2 refiner calls) or euler (1) (default: the model's recommendation, else heun).")
    var refinerStep: String?
    @Option(help: "Classifier-free guidance scale (1 = off; default: the model's recommendation, else 1).")
    var cfg: Float?
    @Option(help: "Guidance channels (0 = all; 3 = the official quirk).")
    var cfgChannels: Int = 0
    @Option(help: "Batch size of the compiled sampling program (results are bitwise stable for a fixed batch).")
    var batch: Int = 16
    @Option(help: "Seed of noise and random labels.")
    var seed: UInt64 = 0
    @Option(help: "Label mode: balanced (i mod K) or random (from the seed).")
    var labels: String = "balanced"
    @Option(help: ArgumentHelp("Text-to-image prompt file: one prompt a line (.txt), JSONL with \"prompt\" (+ \"id\", "
                               + "\"tag\"/\"category\"), or TSV/CSV with a Prompt/text/caption column; needs a "
                               + "caption-conditioned (PixArt-α) model with 384 caption channels (MiniLM).",
                               valueName: "FILE"))
    var prompts: String?
    @Option(help: "Images per prompt K with --prompts: sample i = p·K + k (prompt-major), noise from (seed, i).")
    var imagesPerPrompt: Int = 1
    @Option(help: ArgumentHelp("MiniLM folder of a prompt run (default: Models/minilm, from Scripts/fetch-minilm.sh).",
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
    @Option(help: "Reference statistics (FlowStats stats .npz) for FD/PRDC/KID/SWD in report.json (default for MNIST-shaped class runs: the shipped MNIST-test statistics in classifier space; `none` = no quality figures).")
    var reference: String?
    @Option(help: ArgumentHelp(stringLiteral: "Metric space of --reference. " + CLIFeatureMaps.help
                               + " A statistics-only reference must already be in that space (`stats reference --features`)."))
    var features = "raw"
    @Option(help: "Output dimension of --features random-projection.")
    var projectionDim = 64
    @Option(help: "Seed of the random projection.")
    var featureSeed: UInt64 = 0
    @Flag(help: "No progress bar.")
    var quiet = false
    @Option(help: ArgumentHelp("Seconds between progress lines when stderr is not a terminal (logs, batch jobs).",
                               valueName: "S"))
    var progressInterval: Double = 5
    @Option(help: ArgumentHelp("Compute only part I of N of the run's shards (shards s with s mod N = I; I is 0-based, "
                               + "0 to N-1) without a shared coordinator; combine the parts with `flowturbo merge`.",
                               valueName: "I/N"))
    var part: String?
    @Option(help: "Largest control message in MiB (libzmq drops a peer sending more).")
    var maxMessageMb: Int = 16
    @Option(help: "Largest shard in MiB of float32 latents (a bigger --shard-size is refused).")
    var maxShardMb: Int = 256
    @Option(help: "Most shards leased to one worker at a time.")
    var maxInFlight: Int = 2
    @Option(help: ArgumentHelp("Fraction of shards computed by two different workers and compared byte for byte before "
                               + "they are written (0 = off, 1 = all); a worker whose latents differ is banned.",
                               valueName: "F"))
    var audit: Double = 0

    /// Applies the limit flags to a coordinator configuration.
    func applyLimits(_ c: inout CoordinatorConfig) throws {
        guard maxMessageMb >= 1, maxShardMb >= 1, maxInFlight >= 1 else {
            throw FlowError("--max-message-mb, --max-shard-mb and --max-in-flight must be ≥ 1")
        }
        c.maxControlMessageBytes = Int64(maxMessageMb) << 20
        c.maxControlFrameBytes = min(c.maxControlFrameBytes, maxMessageMb << 20)
        c.maxShardBytes = maxShardMb << 20
        c.maxInFlightPerWorker = maxInFlight
        guard audit.isFinite, audit >= 0, audit <= 1 else {
            throw FlowError("--audit \(audit): expected a fraction of shards between 0 and 1 (e.g. 0.05)")
        }
        c.auditFraction = audit
        guard progressInterval.isFinite, progressInterval > 0 else {
            throw FlowError("--progress-interval \(progressInterval): expected seconds > 0 (e.g. 5)")
        }
        c.progressInterval = progressInterval
    }

    /// Refuses a --features value that cannot work before any sample is computed (the report maps sets at the end).
    func validateFeatures() throws {
        guard features != "raw" else { return }
        guard reference != nil, reference != QualityDefaults.none else { throw FlowError("--features \(features) sets the metric space of --reference; add --reference STATS or drop --features") }
        if features == "random-projection" {
            guard projectionDim >= 1 else { throw FlowError("--projection-dim must be ≥ 1") }
            return
        }
        guard let path = CLIFeatureMaps.classifierPath(features) else {
            throw FlowError("--features \(features): expected raw, random-projection or classifier[:PATH]")
        }
        guard FileIO.exists(path) else {
            throw FlowError("--features \(features): classifier file \(path) not found; train one with `flowturbo train-classifier` or give classifier:PATH")
        }
    }

    /// The resolved run spec (defaults filled in).
    func spec() throws -> RunSpec {
        try validateFeatures()
        let r = try resolved()
        var s = RunSpec(model: r.model, refiner: r.refiner, plan: r.plan, outDir: out)
        guard let mode = EvalSet.LabelMode(rawValue: labels) else {
            throw FlowError("--labels \(labels): expected one of \(EvalSet.LabelMode.allCases.map { $0.rawValue }.joined(separator: ", "))")
        }
        s.samples = samples; s.guidanceScale = r.guidance; s.guidanceChannels = cfgChannels; s.batch = batch; s.seed = seed
        s.refinerStep = r.refinerStep
        s.labelMode = mode; s.promptFile = prompts; s.shardSize = shardSize; s.resume = resume
        s.part = try part.map { try RunPart(parsing: $0) }
        if s.part != nil && exportNpz {
            throw FlowError("--export-npz writes the whole run's samples; pass it to `flowturbo merge` instead of to a part")
        }
        guard imagesPerPrompt >= 1 else { throw FlowError("--images-per-prompt must be ≥ 1 (got \(imagesPerPrompt))") }
        if imagesPerPrompt != 1 && prompts == nil {
            throw FlowError("--images-per-prompt applies to prompt runs; add --prompts FILE or drop it")
        }
        s.imagesPerPrompt = imagesPerPrompt
        s.textEncoder = textEncoder
        if overwrite && resume { throw FlowError("--overwrite and --resume contradict each other; pick one") }
        try RunDirectory.lock(out)
        if overwrite { RunDirectory.removeRun(out) }
        return s
    }

    /// Model, refiner, plan, R-step shape and guidance after the defaults rule (`ModelDefaults.resolve`).
    func resolved() throws -> ResolvedSampling {
        if let s = refinerStep, RefinerStep(rawValue: s) == nil {
            throw FlowError("--refiner-step \(s): expected heun or euler")
        }
        return try ModelDefaults.resolve(model: model, refiner: refiner, plan: plan, refinerStep: refinerStep, guidance: cfg,
                                         text: prompts != nil)
    }

    /// Worker flags that make a worker hold the same models (`--refiner none` when the run has no refiner, so the
    /// worker does not load a recommended one the coordinator does not expect).
    func workerModelArguments(_ spec: RunSpec) -> [String] {
        ["--model", spec.model, "--refiner", spec.refiner ?? ModelDefaults.noRefiner]
            + (spec.textEncoder.map { ["--text-encoder", $0] } ?? [])
    }
}

/// Writes manifest, report and (optionally) samples.npz after a completed run and prints the report.
func finishRun(outDir: String, summary: CoordinatorSummary, workers: Int, exportNPZ: Bool, options o: ClusterRunOptions,
               spec: RunSpec) throws {
    try RunOutput.writeManifest(outDir: outDir)
    if let part = spec.part {
        // A part's report would describe a fraction of the set: the merged run directory gets the one report.
        try RunMerge.writePartRecord(outDir: outDir, part: part, summary: summary, workers: workers)
        print("part \(part) complete (\(summary.shards) shards) in \(outDir); when every part is done: "
              + "flowturbo merge PART_DIRS… --out DIR")
        return
    }
    let ref = QualityDefaults.reference(o, spec: spec)
    let features = ref?.features ?? "raw"
    let md = try RunOutput.writeReport(outDir: outDir, summary: summary, workers: workers, reference: ref?.path,
                                       featureName: features, features: features == "raw" ? nil : { set, path in
        try CLIFeatureMaps.apply(features, to: set, path: path, projectionDimension: o.projectionDim, seed: o.featureSeed)
    }, quality: QualityDefaults.classAgreement(o, spec: spec)
        ?? AdherenceDefaults.scorer(o, spec: spec))
    if exportNPZ { print("wrote \(try RunOutput.exportNPZ(outDir: outDir))") }
    print(md)
}

/// `flowturbo coordinator`: the control plane + aggregator for workers on any host.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Shard an evaluation set over ZeroMQ to `flowturbo worker` processes; write latents, journal, report.")

    @Option(help: "Control endpoint (ROUTER) workers connect to (default: tcp://*:5555 with keys or --insecure, else tcp://127.0.0.1:5555).")
    var bind: String?
    @Option(help: "Data endpoint (aggregator PULL); default: control port + 1.")
    var dataBind: String?
    @Option(help: "Coordinator secret key (NAME.key from `flowturbo keys generate`): CurveZMQ encryption and worker authentication.")
    var curveSecret: String?
    @Option(help: "Worker public keys allowed in (with --curve-secret): a directory of .pub files or a file of Z85 keys.")
    var allow: String?
    @Flag(help: "Accept plaintext, unauthenticated workers on non-loopback addresses (trusted networks only).")
    var insecure = false
    @OptionGroup var opts: ClusterRunOptions
    @OptionGroup var live: LiveOpsOptions

    func run() throws {
        StopSignals.install()
        let metricsAddress = try live.check()
        guard (curveSecret == nil) == (allow == nil) else {
            throw FlowError("--curve-secret and --allow go together (the coordinator's secret key and the worker keys it accepts)")
        }
        let curve = try curveSecret.map { CurveServerSecurity(keys: try CurveKeys.readSecret($0), allowed: try CurveKeys.readAllowList(allow!)) }
        let bind = self.bind ?? (curve != nil || insecure ? "tcp://*:5555" : "tcp://127.0.0.1:5555")
        let dataBind = self.dataBind ?? RunSpec.dataBind(for: bind)
        if curve == nil && !insecure {
            for e in [bind, dataBind] where !isLoopback(e) {
                throw FlowError("\(e) is reachable from other hosts but no keys were given: anyone could join, read latents or stop the run; pass --curve-secret KEY --allow WORKER_KEYS (`flowturbo keys generate --out keys`), or --insecure on a trusted network")
            }
        }
        let spec = try opts.spec()
        var config = try spec.coordinatorConfig(controlBind: bind, dataBind: dataBind)
        config.curve = curve
        try opts.applyLimits(&config)
        live.apply(to: &config)
        if curve == nil && self.bind == nil && !insecure {
            FileHandle.standardError.write(Data("coordinator: no keys, listening on loopback only (\(bind)); see --curve-secret/--allow or --insecure\n".utf8))
        }
        config.progress = !opts.quiet
        config.leaseSeconds = opts.leaseSeconds
        let context = try ZMQContext()
        let coordinator = try Coordinator(config: config, context: context)
        FileHandle.standardError.write(Data("coordinator: control port \(coordinator.controlPort), data port \(coordinator.dataPort), \(coordinator.shardRanges.count) shards\n".utf8))
        try writeEndpoints(outDir: spec.outDir, control: coordinator.controlPort, data: coordinator.dataPort)
        let metrics = try live.startMetrics(metricsAddress, coordinator: coordinator)
        defer { metrics?.stop() }
        let summary = try coordinator.run()
        if !summary.completed {
            FileHandle.standardError.write(Data("interrupted: journal is consistent; rerun with --resume to continue\n".utf8))
            throw ExitCode(130)
        }
        try finishRun(outDir: spec.outDir, summary: summary, workers: summary.workersSeen, exportNPZ: opts.exportNpz, options: opts,
                      spec: spec)
        metrics?.lingerAfterRun()
    }
}

/// True for endpoints other hosts cannot reach: loopback TCP addresses, ipc:// and inproc://.
func isLoopback(_ endpoint: String) -> Bool {
    if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
    guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return false }
    let host = endpoint[endpoint.index(endpoint.startIndex, offsetBy: 6)..<colon]
    return host.hasPrefix("127.") || host == "localhost" || host == "[::1]" || host == "::1"
}

/// Records the bound ports in `<out>/endpoints.json` (mode 0600; tests and scripts read it).
func writeEndpoints(outDir: String, control: Int, data: Int) throws {
    let text = "{\"control_port\": \(control), \"data_port\": \(data), \"pid\": \(getpid())}\n"
    try PrivateFiles.write(outDir + "/endpoints.json", Array(text.utf8))   // 0600: other users do not learn the ports
}
