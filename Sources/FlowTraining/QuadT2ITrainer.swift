import FlowModels
import FlowTensor
import Foundation

/// Flow-matching training of a PixArt-α predictor on quad canvases (text-to-image).
///
/// Per row: a pool caption (category by `categoryWeights`, uniform by default, then caption uniform), its canvas
/// x1 composed from MNIST train, t ~ U(0, 1), x0 ~ N(0, I); x_t = t·x1 + (1 − t)·x0,
/// loss = mean‖v_θ(x_t, t, caption) − (x1 − x0)‖². With probability `options.labelDrop` (0.1) a row's caption is
/// replaced by the null caption `y_embedding`. Rows with a caption come first in the batch, dropped rows last (what
/// `PixArtTrainer` takes). Every draw of a step comes from `stepRandom(seed, step)`, so a resumed run continues
/// bit-identically.
public final class QuadT2ITrainer {
    public let trainer: PixArtTrainer
    public let adam: AdamW
    public let ema: EMA
    public let options: TrainOptions
    public let pool: QuadCaptionPool
    public var step = 0
    /// Category sampling weights of the draw (uniform unless set; a resume restores the checkpoint's).
    public private(set) var categoryWeights = QuadCategoryWeights.uniform
    /// History of the weights, "step:w,w,…;step:…" (stored as `QuadCategoryWeights.scheduleKey`).
    public private(set) var categorySchedule = "0:" + QuadCategoryWeights.uniform.compact
    /// "<file name> sha256 <hex>" of the predictor this run was warm-started from (`warmStart`), if any.
    public private(set) var initSource: String?
    let composer: QuadComposer
    let captions: CaptionBatch
    let params: [TrainableParameter]
    // per-step buffers
    let x1, x0, xt, target, out, dout, tb, capFeat: Buffer  // (B, 1, 32, 32) ×6, t (B,), captions (B, L, C)
    var capMask: [Int32]  // (B, L)

    /// `captions` holds the token features of `pool.entries` row by row (L ≤ the model's L_max, C = caption channels).
    public init(
        weights: PixArtWeights, data: MNISTData, pool: QuadCaptionPool, captions: CaptionBatch,
        options: TrainOptions
    ) throws {
        let c = weights.config
        guard !c.isRefiner, c.inChannels == 1, c.inputSize == QuadCanvas.size else {
            throw FlowError(
                "quad training needs a 1×32×32 predictor, got \(c.inChannels)×\(c.inputSize)² "
                    + "(refiner \(c.isRefiner))")
        }
        guard captions.rows == pool.entries.count, captions.channels == c.captionChannels,
            captions.length <= c.captionTokens
        else {
            throw FlowError(
                "caption features (\(captions.rows), \(captions.length), \(captions.channels)) do not fit "
                    + "\(pool.entries.count) pool captions and the model's (L_max \(c.captionTokens), "
                    + "C \(c.captionChannels)); re-encode the captions")
        }
        self.options = options
        self.pool = pool
        self.captions = captions
        composer = try QuadComposer(data: data)
        trainer = PixArtTrainer(weights: weights, maxRows: options.batch, maxCaptionLength: captions.length)
        params = trainer.parameters
        adam = AdamW(params, weightDecay: options.weightDecay)
        ema = EMA(params)
        let n = options.batch * c.sampleSize
        x1 = Buffer(count: n)
        x0 = Buffer(count: n)
        xt = Buffer(count: n)
        target = Buffer(count: n)
        out = Buffer(count: n)
        dout = Buffer(count: n)
        tb = Buffer(count: options.batch)
        capFeat = Buffer(count: options.batch * captions.length * captions.channels)
        capMask = [Int32](repeating: 0, count: options.batch * captions.length)
    }

    /// One optimizer step; returns the loss before the update.
    @discardableResult
    public func trainStep() -> Double {
        let b = options.batch
        let s = trainer.config.sampleSize
        let l = captions.length
        let cc = captions.channels
        var rng = stepRandom(seed: options.seed, step: step)
        var front = 0
        var back = b
        for _ in 0..<b {
            let e = pool.draw(&rng, weights: categoryWeights)
            let drop = rng.uniform() < options.labelDrop
            let t = Float(rng.uniform())
            let k: Int
            if drop {
                back -= 1
                k = back
            } else {
                k = front
                front += 1
                captions.features.data.withUnsafeBufferPointer { f in
                    (capFeat.ptr + k * l * cc).update(from: f.baseAddress! + e * l * cc, count: l * cc)
                }
                capMask.replaceSubrange((k * l)..<((k + 1) * l), with: captions.mask[(e * l)..<((e + 1) * l)])
            }
            tb.ptr[k] = t
            composer.compose(pool.entries[e].spec, rng: &rng, out: x1.ptr + k * s)
        }
        for i in 0..<(b * s) { x0.ptr[i] = Float(rng.normal()) }
        for k in 0..<b {
            let t = tb.ptr[k]
            for i in (k * s)..<((k + 1) * s) {
                xt.ptr[i] = t * x1.ptr[i] + (1 - t) * x0.ptr[i]
                target.ptr[i] = x1.ptr[i] - x0.ptr[i]
            }
        }
        capMask.withUnsafeBufferPointer { m in
            trainer.forward(
                x: xt.ptr, v: nil, t: tb.ptr, captions: capFeat.ptr, mask: m.baseAddress!, length: l,
                captionRows: front, rows: b, out: out.ptr)
        }
        let loss = SiTTrainer.mseLoss(out: out.ptr, target: target.ptr, count: b * s, dout: dout.ptr)
        trainer.zeroGrads()
        trainer.backward(dout: dout.ptr)
        AdamW.clipGradNorm(params, maxNorm: options.clip)
        adam.step(lr: AdamW.warmupLR(options.lr, step: step, warmup: options.warmup))
        ema.update(step: step)
        step += 1
        return loss
    }

    /// Metadata describing this run (stored in checkpoints and the shipped file).
    public func runMetadata(extra: [String: String] = [:]) -> [String: String] {
        var m = trainer.config.metadata
        m["flowturbo.train_objective"] = "flow-matching-linear"
        m["flowturbo.task"] = "quad-canvas"
        m["flowturbo.train_seed"] = String(options.seed)
        m["flowturbo.train_batch"] = String(options.batch)
        m["flowturbo.train_lr"] = String(options.lr)
        m["flowturbo.train_caption_drop"] = String(options.labelDrop)
        m["flowturbo.train_captions"] = String(pool.entries.count)
        m[QuadCategoryWeights.metadataKey] = categoryWeights.description
        m[QuadCategoryWeights.scheduleKey] = categorySchedule
        if let initSource { m[PixArtWarmStart.metadataKey] = initSource }
        return m.merging(extra) { _, b in b }
    }

    /// Tensors kept fixed by training but part of the model (pos_embed, the null caption).
    var fixed: [(name: String, shape: [Int], buffer: Buffer)] {
        trainer.weights.named.filter { n in !params.contains { $0.name == n.name } }
    }

    /// Writes a resumable checkpoint of the current state (also loadable as a model).
    public func saveCheckpoint(_ path: String, extra: [String: String] = [:]) throws {
        let shapes = Dictionary(uniqueKeysWithValues: trainer.weights.named.map { ($0.name, $0.shape) })
        try Checkpoint.save(
            path, params: params, shapes: shapes, adam: adam, ema: ema, step: step,
            metadata: runMetadata(extra: extra), fixed: fixed)
    }

    /// Restores a checkpoint written by `saveCheckpoint` (parameters, EMA, AdamW, step and the null caption).
    public func resume(from path: String) throws {
        let f = try SafeTensors.load(path)
        if let c = try PixArtConfig.fromMetadata(f.metadata, source: path), c != trainer.config {
            throw FlowError(
                "\(path): checkpoint is for a different model (D \(c.hiddenSize), depth \(c.depth), "
                    + "patch \(c.patchSize), L_max \(c.captionTokens)); resume with the same model flags")
        }
        step = try Checkpoint.load(path, params: params, adam: adam, ema: ema).step
        for (name, shape, buf) in fixed { buf.copy(from: try f.tensor(name, shape: shape).data) }
        categoryWeights = try QuadCategoryWeights.from(metadata: f.metadata, source: path)
        categorySchedule = f.metadata[QuadCategoryWeights.scheduleKey] ?? "0:" + categoryWeights.compact
        initSource = f.metadata[PixArtWarmStart.metadataKey]
    }

    /// Warm start from a predictor file of the same config: its weights become the parameters and EMA; AdamW
    /// moments stay fresh, the step stays 0; the null caption comes from the file too (what it was trained with).
    public func warmStart(from path: String) throws {
        initSource = try PixArtWarmStart.load(path, config: trainer.config, params: params, ema: ema, fixed: fixed)
    }

    /// Switches the category weights from the current step on and records the switch in `categorySchedule`;
    /// returns "category weights change at step N: old → new", or nil if the weights are unchanged.
    @discardableResult
    public func setCategoryWeights(_ w: QuadCategoryWeights) -> String? {
        guard w != categoryWeights else { return nil }
        let old = categoryWeights
        categoryWeights = w
        categorySchedule = w.appended(to: categorySchedule, atStep: step)
        return "category weights change at step \(step): \(old) → \(w)"
    }

    /// The EMA weights as a fresh `PixArtWeights` (what ships), with the same fixed tensors.
    public func emaWeights() -> PixArtWeights {
        let w = PixArtWeights(config: trainer.config)
        let byName = Dictionary(uniqueKeysWithValues: w.named.map { ($0.name, $0.buffer) })
        for (k, p) in params.enumerated() { byName[p.name]!.ptr.update(from: ema.shadow[k].ptr, count: p.param.count) }
        for (name, _, buf) in fixed { byName[name]!.ptr.update(from: buf.ptr, count: buf.count) }
        return w
    }

    /// Runs until `options.steps` (`runTrainingLoop`: progress lines, checkpoints); returns the mean loss
    /// of the last logging window.
    public func run(log: (String) -> Void) throws -> Double {
        try runTrainingLoop(
            options: options, step: { step }, trainStep: { trainStep() }, save: { try saveCheckpoint($0) }, log: log)
    }
}
