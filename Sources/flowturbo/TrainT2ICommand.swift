import ArgumentParser
import FlowModels
import FlowTensor
import FlowText
import FlowTraining
import Foundation

/// `flowturbo train-t2i`: flow-matching training of a PixArt-α text-to-image predictor on quad canvases.
struct TrainT2ICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-t2i",
        abstract: "Train a PixArt-α text-to-image predictor on quad canvases (MNIST digits in four slots, MiniLM "
            + "captions, caption drop to the null caption for CFG).")

    @OptionGroup var loop: TrainLoopOptions
    @Option(help: "Output safetensors (EMA weights, config and recommended sampling in metadata).")
    var out: String = "Models/pixart-quad.safetensors"
    @Option(help: "Hidden size D.") var width: Int = 128
    @Option(help: "Number of PixArt blocks.") var depth: Int = 6
    @Option(help: "Attention heads.") var heads: Int = 4
    @Option(help: "Patch size (32 must be a multiple).") var patch: Int = 4
    @Option(help: "Caption tokens L_max (the null caption's length; every caption must fit).")
    var captionTokens: Int = QuadT2IDefaults.captionTokens
    @Option(help: "Probability of replacing a caption by the null caption (default: --label-drop, 0.1).")
    var captionDrop: Double?
    @Option(help: "MiniLM folder (Scripts/fetch-minilm.sh).") var encoder: String = MiniLMEncoder.defaultDirectory
    @Option(help: "Caption feature cache (default: data/quad-captions-<encoder digest>-L<L>.safetensors).")
    var captionCache: String?
    @Option(help: "Seed of the training caption pool (which phrasings of each spec are used).")
    var poolSeed: UInt64 = 0
    @Option(
        help: ArgumentHelp(
            "Caption category sampling weights, non-negative integers, e.g. two=3,count=2 (omitted: 1; "
                + "default: all 1, or the checkpoint's on --resume)."))
    var categoryWeights: String?
    @Option(
        name: .customLong("init"),
        help: ArgumentHelp(
            "Warm start from this predictor .safetensors (same model flags): its weights as parameters and EMA, "
                + "fresh AdamW, step 0. A --resume checkpoint wins."))
    var initFrom: String?

    func run() throws {
        Gemm.setThreads(loop.threads)
        var opts = try loop.options(out: out)
        if let d = captionDrop {
            guard (0...1).contains(d) else { throw FlowError("--caption-drop must be in [0, 1]") }
            opts.labelDrop = d
        }
        let weights = try categoryWeights.map(QuadCategoryWeights.init(parsing:))
        let data = try MNISTData.load(directory: loop.data, split: "train")
        let pool = QuadCaptionPool(seed: poolSeed)
        let enc = try MiniLMEncoder.load(directory: encoder)
        let digest = try MiniLMEncoder.digest(directory: encoder)
        let cachePath =
            captionCache
            ?? CaptionFeatureCache.defaultPath(
                prefix: "quad-captions", digest: digest,
                length: captionTokens)
        let table = try CaptionFeatureCache.load(
            captions: pool.captions, length: captionTokens, encoder: enc,
            digest: digest, path: cachePath, log: progressLine)
        let longest = (0..<table.captions.count).map(table.tokens).max() ?? 0
        progressLine(
            "captions: \(pool.entries.count) unique, longest \(longest) tokens (L_max \(captionTokens)); "
                + "features cached in \(cachePath)")
        let cfg = PixArtConfig(
            inputSize: QuadCanvas.size, patchSize: patch, inChannels: 1, hiddenSize: width,
            depth: depth, numHeads: heads, captionChannels: table.channels,
            captionTokens: captionTokens, learnSigma: false, isRefiner: false)
        try cfg.validate(source: "flowturbo train-t2i")
        let w = PixArtWeights(config: cfg)
        PixArtInit.official(w, seed: loop.seed)
        let captions = CaptionBatch(
            features: Tensor(
                shape: [table.captions.count, captionTokens, table.channels],
                data: table.features), mask: table.mask)
        let qt = try QuadT2ITrainer(weights: w, data: data, pool: pool, captions: captions, options: opts)
        if loop.resume, let cp = opts.checkpointPath, FileIO.exists(cp) {
            try qt.resume(from: cp)
            progressLine("resumed text-to-image predictor from \(cp) at step \(qt.step)")
            if let w = weights, let change = qt.setCategoryWeights(w) { progressLine(change) }
            if let i = initFrom { progressLine("--init \(i) ignored: the checkpoint \(cp) wins on --resume") }
        } else {
            if let w = weights { qt.setCategoryWeights(w) }
            if let i = initFrom {
                try qt.warmStart(from: i)
                progressLine("warm start from \(qt.initSource ?? i): weights and EMA loaded, fresh AdamW, step 0")
            }
        }
        progressLine(
            "text-to-image predictor: D \(width), depth \(depth), \(heads) heads, patch \(patch), "
                + "\(cfg.parameterCount) parameters; \(opts.steps) steps × batch \(opts.batch), lr \(opts.lr), "
                + "caption drop \(opts.labelDrop), seed \(opts.seed); category weights \(qt.categoryWeights)")
        let start = Date()
        let loss = try qt.run(log: progressLine)
        let wall = Date().timeIntervalSince(start)
        let extra = QuadT2IDefaults.metadata(encoderDigest: digest, poolSeed: poolSeed)
        if let cp = opts.checkpointPath, opts.checkpointEvery > 0 { try qt.saveCheckpoint(cp) }
        try FileIO.makeDirectories((out as NSString).deletingLastPathComponent)
        var meta = qt.runMetadata(extra: extra)
        meta["flowturbo.train_steps"] = String(qt.step)
        meta["flowturbo.train_wall_seconds_last_session"] = String(format: "%.0f", wall)
        meta["flowturbo.weights"] = qt.step == 0 ? "initial" : "ema"
        if loss.isFinite { meta["flowturbo.train_final_loss"] = String(format: "%.5f", loss) }
        try qt.emaWeights().save(out, extra: meta)
        let lossText = loss.isFinite ? String(format: "%.5f", loss) : "n/a (no steps this session)"
        progressLine(
            "wrote \(out) (EMA weights) after \(qt.step) steps; final loss \(lossText); "
                + "session wall time \(formatDuration(wall))")
    }
}

/// Defaults and metadata of the quad-canvas text-to-image model.
enum QuadT2IDefaults {
    /// L_max: the longest caption of the grammar is 17 MiniLM tokens ([CLS] and [SEP] included); 20 leaves spare.
    static let captionTokens = 20

    /// Provisional sampling recommendation (no refiner yet; to be replaced by measured values).
    static let recommendation = Recommendation(
        plan: "H8", refinerStep: "euler", guidance: 3, refiner: nil,
        planWithoutRefiner: "H8")

    static func metadata(encoderDigest: String, poolSeed: UInt64) -> [String: String] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let rec = String(decoding: (try? enc.encode(recommendation)) ?? Data(), as: UTF8.self)
        return [
            Recommendation.metadataKey: rec,
            "flowturbo.caption_encoder": "all-MiniLM-L6-v2",
            "flowturbo.caption_encoder_digest": encoderDigest,
            "flowturbo.train_pool_seed": String(poolSeed),
        ]
    }
}
