import ArgumentParser
import FlowModels
import FlowTensor
import FlowText
import FlowTraining
import Foundation

/// `flowturbo train-t2i-refiner --predictor M`: the FlowTurbo velocity-refiner objective against a frozen PixArt-α
/// text-to-image predictor, on quad canvases with the predictor's caption pool and caption drop.
struct TrainT2IRefinerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-t2i-refiner",
        abstract: "Train a FlowTurbo velocity refiner (1 PixArt block, zero-initialised output) against a frozen "
            + "text-to-image predictor on quad canvases (the predictor's caption pool and caption drop).")

    @OptionGroup var loop: TrainLoopOptions
    @Option(help: "Frozen text-to-image predictor (default: the shipped Models/pixart-quad.safetensors).")
    var predictor: String = ModelDefaults.shipped("pixart-quad.safetensors")
    @Option(help: "Output safetensors (EMA weights, config and the predictor's digest in metadata).")
    var out: String = "Models/pixart-quad-refiner.safetensors"
    @Option(help: "Refiner blocks (the paper uses 1).") var depth: Int = 1
    @Option(help: "Hidden size (default: the predictor's).") var width: Int?
    @Option(help: "Attention heads (default: the predictor's).") var heads: Int?
    @Option(help: "Largest Δt of the objective (FlowTurbo: 0.12).") var maxDeltaT: Double = 0.12
    @Option(help: "Probability of the null caption (default: the predictor's training value, else --label-drop).")
    var captionDrop: Double?
    @Option(help: "MiniLM folder (Scripts/fetch-minilm.sh).") var encoder: String = MiniLMEncoder.defaultDirectory
    @Option(help: "Caption feature cache (default: the one train-t2i uses).") var captionCache: String?
    @Option(help: "Seed of the caption pool (default: the predictor's training pool seed, else 0).")
    var poolSeed: UInt64?
    @Option(
        name: .customLong("init"),
        help: ArgumentHelp(
            "Warm start from this refiner .safetensors (same refiner config, e.g. trained against an earlier "
                + "predictor): its weights as parameters and EMA, fresh AdamW, step 0. A --resume checkpoint wins."))
    var initFrom: String?

    func run() throws {
        Gemm.setThreads(loop.threads)
        var opts = try loop.options(out: out)
        guard maxDeltaT > 0, maxDeltaT <= 1 else { throw FlowError("--max-delta-t must be in (0, 1]") }
        let pred = try PixArtModel.load(predictor, refiner: false)
        let meta = try SafeTensors.load(predictor).metadata
        let p = pred.config
        guard p.inChannels == 1, p.inputSize == QuadCanvas.size else {
            throw FlowError(
                "\(predictor) is not a quad-canvas model (\(p.inChannels)×\(p.inputSize)²); train one "
                    + "with `flowturbo train-t2i`")
        }
        let drop = captionDrop ?? meta["flowturbo.train_caption_drop"].flatMap(Double.init) ?? loop.labelDrop
        guard (0...1).contains(drop) else { throw FlowError("--caption-drop must be in [0, 1]") }
        opts.labelDrop = drop
        let seed = poolSeed ?? meta["flowturbo.train_pool_seed"].flatMap(UInt64.init) ?? 0
        let digest = try MiniLMEncoder.digest(directory: encoder)
        if let d = meta["flowturbo.caption_encoder_digest"], d != digest {
            throw FlowError(
                "\(encoder) is not the text encoder \(predictor) was trained with (digest \(d.prefix(12))…); "
                    + "pass that MiniLM folder as --encoder")
        }
        let data = try MNISTData.load(directory: loop.data, split: "train")
        let pool = QuadCaptionPool(seed: seed)
        let enc = try MiniLMEncoder.load(directory: encoder)
        let cachePath =
            captionCache
            ?? CaptionFeatureCache.defaultPath(
                prefix: "quad-captions", digest: digest,
                length: p.captionTokens)
        let table = try CaptionFeatureCache.load(
            captions: pool.captions, length: p.captionTokens, encoder: enc,
            digest: digest, path: cachePath, log: progressLine)
        progressLine("captions: \(pool.entries.count) unique (pool seed \(seed)); features cached in \(cachePath)")
        var cfg = p
        cfg.isRefiner = true
        cfg.depth = depth
        cfg.learnSigma = false
        if let width {
            cfg.mlpHidden = cfg.mlpHidden * width / p.hiddenSize
            cfg.hiddenSize = width
        }
        cfg.numHeads = heads ?? p.numHeads
        try cfg.validate(source: "flowturbo train-t2i-refiner")
        let w = PixArtWeights(config: cfg)
        PixArtInit.official(w, seed: loop.seed)
        let captions = CaptionBatch(
            features: Tensor(
                shape: [table.captions.count, p.captionTokens, table.channels],
                data: table.features), mask: table.mask)
        let qt = try QuadRefinerTrainer(
            weights: w, predictor: pred, predictorDigest: try ModelLoader.digest(predictor),
            data: data, pool: pool, captions: captions, options: opts)
        qt.maxDeltaT = maxDeltaT
        if loop.resume, let cp = opts.checkpointPath, FileIO.exists(cp) {
            try qt.resume(from: cp)
            progressLine("resumed text-to-image refiner from \(cp) at step \(qt.step)")
            if let i = initFrom { progressLine("--init \(i) ignored: the checkpoint \(cp) wins on --resume") }
        } else if let i = initFrom {
            try qt.warmStart(from: i)
            progressLine("warm start from \(qt.initSource ?? i): weights and EMA loaded, fresh AdamW, step 0")
        }
        progressLine(
            "text-to-image refiner: D \(cfg.hiddenSize), depth \(depth), \(cfg.numHeads) heads, patch "
                + "\(cfg.patchSize), \(cfg.parameterCount) parameters (predictor \(p.parameterCount)); "
                + "\(opts.steps) steps × batch \(opts.batch), lr \(opts.lr), caption drop \(drop), Δt ≤ "
                + "\(maxDeltaT), seed \(opts.seed)")
        let start = Date()
        let loss = try qt.run(log: progressLine)
        let wall = Date().timeIntervalSince(start)
        let extra = [
            "flowturbo.caption_encoder": "all-MiniLM-L6-v2",
            "flowturbo.caption_encoder_digest": digest,
            "flowturbo.train_pool_seed": String(seed),
        ]
        if let cp = opts.checkpointPath, opts.checkpointEvery > 0 { try qt.saveCheckpoint(cp, extra: extra) }
        try FileIO.makeDirectories((out as NSString).deletingLastPathComponent)
        var m = qt.runMetadata(extra: extra)
        m["flowturbo.train_steps"] = String(qt.step)
        m["flowturbo.train_wall_seconds_last_session"] = String(format: "%.0f", wall)
        m["flowturbo.weights"] = qt.step == 0 ? "initial" : "ema"
        if loss.isFinite { m["flowturbo.train_final_loss"] = String(format: "%.5f", loss) }
        try qt.emaWeights().save(out, extra: m)
        let lossText = loss.isFinite ? String(format: "%.5f", loss) : "n/a (no steps this session)"
        progressLine(
            "wrote \(out) (EMA weights) after \(qt.step) steps; final loss \(lossText); "
                + "session wall time \(formatDuration(wall)); sample with --model \(predictor) --refiner \(out)")
    }
}
