import ArgumentParser
import FlowModels
import FlowTensor
import FlowTraining
import Foundation

/// Flags shared by `flowturbo train` and `flowturbo train-refiner`.
struct TrainLoopOptions: ParsableArguments {
    @Option(help: "MNIST directory with the four IDX files (gzipped or not); see Scripts/fetch-mnist.sh.")
    var data: String = "data/mnist"
    @Option(help: "Optimizer steps in total (a resumed run continues to this count).")
    var steps: Int = 5000
    @Option(help: "Mini-batch size.")
    var batch: Int = 128
    @Option(help: "AdamW learning rate.")
    var lr: Float = 3e-4
    @Option(help: "AdamW weight decay (decoupled).")
    var weightDecay: Float = 0
    @Option(help: "Linear learning-rate warm-up steps.")
    var warmup: Int = 0
    @Option(help: "Gradient-norm clip (0 = off).")
    var clip: Float = 1
    @Option(help: "Seed of the initialisation, data order, noise, times and label drops.")
    var seed: UInt64 = 0
    @Option(help: "Probability of replacing a label by the null class (classifier-free guidance).")
    var labelDrop: Double = 0.1
    @Option(help: "Write a resumable checkpoint every N steps (0 = never).")
    var checkpointEvery: Int = 200
    @Option(help: "Checkpoint path (default: <out>.ckpt).")
    var checkpoint: String?
    @Flag(help: "Resume from --checkpoint (weights, EMA, AdamW moments, step) when it exists.")
    var resume = false
    @Option(help: "Progress line every N steps (stderr).")
    var logEvery: Int = 10
    @Option(help: "OpenBLAS threads.")
    var threads: Int = 2

    func options(out: String) throws -> TrainOptions {
        guard steps >= 0, batch > 0, lr > 0, (0...1).contains(labelDrop) else {
            throw FlowError(
                "--steps must be ≥ 0 (0 writes the initialised model), --batch and --lr positive, --label-drop in [0, 1]"
            )
        }
        var o = TrainOptions()
        o.steps = steps
        o.batch = batch
        o.lr = lr
        o.weightDecay = weightDecay
        o.warmup = warmup
        o.clip = clip
        o.seed = seed
        o.labelDrop = labelDrop
        o.checkpointEvery = checkpointEvery
        o.checkpointPath = checkpoint ?? out + ".ckpt"
        o.logEvery = max(logEvery, 1)
        return o
    }
}

/// Writes one line to stderr.
func progressLine(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// Runs a flow-matching trainer with resume, checkpoints and the final EMA export.
func runFlowTraining(_ ft: FlowMatchingTrainer, loop: TrainLoopOptions, out: String, what: String) throws {
    let o = ft.options
    if loop.resume, let cp = o.checkpointPath, FileIO.exists(cp) {
        try ft.resume(from: cp)
        progressLine("resumed \(what) from \(cp) at step \(ft.step)")
    }
    let c = ft.trainer.config
    progressLine(
        "\(what): D \(c.hiddenSize), depth \(c.depth), \(c.numHeads) heads, patch \(c.patchSize), \(c.parameterCount) parameters; "
            + "\(o.steps) steps × batch \(o.batch), lr \(o.lr), seed \(o.seed)")
    let start = Date()
    let loss = try ft.run(log: progressLine)
    let wall = Date().timeIntervalSince(start)
    if let cp = o.checkpointPath, o.checkpointEvery > 0 { try ft.saveCheckpoint(cp) }
    try FileIO.makeDirectories((out as NSString).deletingLastPathComponent)
    var extra = ["flowturbo.train_steps": String(ft.step)]
    if loss.isFinite { extra["flowturbo.train_final_loss"] = String(format: "%.5f", loss) }
    try ft.emaWeights().save(
        out,
        extra: ft.runMetadata(
            extra: extra.merging([
                "flowturbo.train_steps": String(ft.step),
                "flowturbo.train_wall_seconds_last_session": String(format: "%.0f", wall),
                "flowturbo.weights": ft.step == 0 ? "initial" : "ema",
            ]) { a, _ in a }))
    let lossText = loss.isFinite ? String(format: "%.5f", loss) : "n/a (no steps this session)"
    progressLine(
        "wrote \(out) (EMA weights) after \(ft.step) steps; final loss \(lossText); session wall time \(formatDuration(wall))"
    )
}

/// `flowturbo train`: flow-matching training of a SiT predictor on MNIST.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a SiT velocity predictor on MNIST with flow matching (linear path, label drop for CFG).")

    @OptionGroup var loop: TrainLoopOptions
    @Option(help: "Output safetensors (EMA weights, config in metadata).")
    var out: String = "Models/sit-mnist.safetensors"
    @Option(help: "Hidden size D.") var width: Int = 128
    @Option(help: "Number of SiT blocks.") var depth: Int = 8
    @Option(help: "Attention heads.") var heads: Int = 4
    @Option(help: "Patch size.") var patch: Int = 4

    func run() throws {
        Gemm.setThreads(loop.threads)
        let opts = try loop.options(out: out)
        let data = try MNISTData.load(directory: loop.data, split: "train")
        let cfg = SiTConfig(
            inputSize: data.rows, patchSize: patch, inChannels: 1, hiddenSize: width, depth: depth, numHeads: heads,
            numClasses: 10, learnSigma: false, isRefiner: false)
        try cfg.validate(source: "flowturbo train")
        let w = SiTWeights(config: cfg)
        SiTInit.official(w, seed: loop.seed)
        let ft = try FlowMatchingTrainer(weights: w, data: data, options: opts)
        try runFlowTraining(ft, loop: loop, out: out, what: "predictor")
    }
}

/// `flowturbo train-refiner --predictor M`: the FlowTurbo velocity-refiner objective against a frozen predictor.
struct TrainRefinerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-refiner",
        abstract: "Train a FlowTurbo velocity refiner (1 block, zero-initialised output) against a frozen predictor.")

    @OptionGroup var loop: TrainLoopOptions
    @Option(help: "Frozen predictor checkpoint (default: the shipped predictor, found as every command finds models).")
    var predictor: String = ModelDefaults.shipped("sit-mnist.safetensors")
    @Option(help: "Output safetensors (EMA weights, config in metadata).")
    var out: String = "Models/refiner-mnist.safetensors"
    @Option(help: "Refiner blocks (the paper uses 1).") var depth: Int = 1
    @Option(help: "Hidden size (default: the predictor's).") var width: Int?
    @Option(help: "Attention heads (default: the predictor's).") var heads: Int?
    @Option(help: "Largest Δt of the objective (FlowTurbo: 0.12).") var maxDeltaT: Double = 0.12

    func run() throws {
        Gemm.setThreads(loop.threads)
        let opts = try loop.options(out: out)
        let pred = try SiTModel.load(predictor)
        guard !pred.isRefiner else {
            throw FlowError("\(predictor) is a refiner; --predictor needs a velocity predictor")
        }
        guard maxDeltaT > 0, maxDeltaT <= 1 else { throw FlowError("--max-delta-t must be in (0, 1]") }
        let data = try MNISTData.load(directory: loop.data, split: "train")
        let p = pred.config
        let cfg = SiTConfig(
            inputSize: p.inputSize, patchSize: p.patchSize, inChannels: p.inChannels, hiddenSize: width ?? p.hiddenSize,
            depth: depth, numHeads: heads ?? p.numHeads, numClasses: p.numClasses, learnSigma: false, isRefiner: true)
        try cfg.validate(source: "flowturbo train-refiner")
        let w = SiTWeights(config: cfg)
        SiTInit.official(w, seed: loop.seed)
        let ft = try FlowMatchingTrainer(weights: w, data: data, options: opts, predictor: pred)
        ft.maxDeltaT = maxDeltaT
        try runFlowTraining(ft, loop: loop, out: out, what: "refiner")
    }
}
