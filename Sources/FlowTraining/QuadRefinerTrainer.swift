import FlowModels
import FlowTensor
import Foundation

/// FlowTurbo velocity-refiner training for a frozen PixArt-α text-to-image predictor on quad canvases.
///
/// Per row, drawn exactly like `QuadT2ITrainer`: a pool caption (category uniform, then caption uniform), dropped to
/// the null caption with probability `options.labelDrop` (the predictor's caption drop, so the refiner also serves
/// the unconditional half of guidance), its canvas x1, t ~ U(0, 1), x0 ~ N(0, I); x_t = t·x1 + (1 − t)·x0. Then
/// v = v_θ(x_t, t, c), Δt ~ U(0, maxΔt], x' = x_t + Δt·v, t' = min(t + Δt, 1) and
/// loss = mean‖(r_φ(x', v, t', c) + v) − v_θ(x', t', c)‖² with the same caption c (or the null caption) for every
/// call. The refiner starts with a zero output layer, so its first prediction is v itself. Every draw of a step
/// comes from `stepRandom(seed, step)`, so a resumed run continues bit-identically.
public final class QuadRefinerTrainer {
    public let trainer: PixArtTrainer
    public let adam: AdamW
    public let ema: EMA
    public let options: TrainOptions
    public let pool: QuadCaptionPool
    public let predictor: PixArtModel
    /// Hex SHA-256 of the predictor file (stored in checkpoints and the output; a resume checks it).
    public let predictorDigest: String
    /// Largest refiner step Δt (FlowTurbo: 0.12).
    public var maxDeltaT = 0.12
    public var step = 0
    /// "<file name> sha256 <hex>" of the refiner this run was warm-started from (`warmStart`), if any.
    public private(set) var initSource: String?
    let composer: QuadComposer
    let captions: CaptionBatch
    let params: [TrainableParameter]
    let predEval: PixArtEvaluator
    // per-step buffers: (B, 1, 32, 32) samples, (B,) times, (B, L, C) caption features
    let x1, x0, xt, vPrev, xNext, target, out, dout, tb, tNext, capFeat: Buffer
    var capMask: [Int32]
    var captionRows = 0

    /// Metadata key of the predictor's digest.
    public static let predictorDigestKey = "flowturbo.train_predictor_sha256"

    /// `weights` is a refiner config matching `predictor` (sample shape, caption channels, L_max); `captions` holds
    /// the token features of `pool.entries` row by row, as for `QuadT2ITrainer`. The refiner's fixed null caption
    /// is set to the predictor's, so a dropped row means the same to both networks.
    public init(
        weights: PixArtWeights, predictor: PixArtModel, predictorDigest: String, data: MNISTData,
        pool: QuadCaptionPool, captions: CaptionBatch, options: TrainOptions
    ) throws {
        let c = weights.config
        let p = predictor.config
        guard c.isRefiner, !p.isRefiner, c.inChannels == p.inChannels, c.inputSize == p.inputSize,
            c.captionChannels == p.captionChannels, c.captionTokens == p.captionTokens, p.inputSize == QuadCanvas.size,
            p.inChannels == 1
        else {
            throw FlowError(
                "refiner (\(c.inChannels)×\(c.inputSize)², refiner \(c.isRefiner), captions \(c.captionTokens)×"
                    + "\(c.captionChannels)) does not fit the quad predictor \(predictor.source) (\(p.inChannels)×"
                    + "\(p.inputSize)², refiner \(p.isRefiner), captions \(p.captionTokens)×\(p.captionChannels))")
        }
        guard captions.rows == pool.entries.count, captions.channels == c.captionChannels,
            captions.length <= c.captionTokens
        else {
            throw FlowError(
                "caption features (\(captions.rows), \(captions.length), \(captions.channels)) do not fit "
                    + "\(pool.entries.count) pool captions and L_max \(c.captionTokens), C \(c.captionChannels)")
        }
        self.options = options
        self.pool = pool
        self.captions = captions
        self.predictor = predictor
        self.predictorDigest = predictorDigest
        weights.nullCaption.copy(from: predictor.weights.nullCaption.array)
        composer = try QuadComposer(data: data)
        trainer = PixArtTrainer(weights: weights, maxRows: options.batch, maxCaptionLength: captions.length)
        params = trainer.parameters
        adam = AdamW(params, weightDecay: options.weightDecay)
        ema = EMA(params)
        let eval = predictor.makeCaptionEvaluator(maxRows: options.batch, times: [], maxCaptionLength: captions.length)
        guard let pe = eval as? PixArtEvaluator else { throw FlowError("PixArt predictor without a PixArt evaluator") }
        predEval = pe
        let n = options.batch * c.sampleSize
        (x1, x0, xt, vPrev) = (Buffer(count: n), Buffer(count: n), Buffer(count: n), Buffer(count: n))
        (xNext, target, out, dout) = (Buffer(count: n), Buffer(count: n), Buffer(count: n), Buffer(count: n))
        tb = Buffer(count: options.batch)
        tNext = Buffer(count: options.batch)
        capFeat = Buffer(count: options.batch * captions.length * captions.channels)
        capMask = [Int32](repeating: 0, count: options.batch * captions.length)
    }

    /// Draws step `step`'s batch (as `QuadT2ITrainer.trainStep`): captioned rows first, dropped rows last;
    /// fills x1, x0, t and x_t and returns the generator for the step's remaining draws.
    func drawBatch() -> SeededRandom {
        let b = options.batch
        let s = trainer.config.sampleSize
        let l = captions.length
        let cc = captions.channels
        var rng = stepRandom(seed: options.seed, step: step)
        var front = 0
        var back = b
        for _ in 0..<b {
            let e = pool.draw(&rng)
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
            for i in (k * s)..<((k + 1) * s) { xt.ptr[i] = t * x1.ptr[i] + (1 - t) * x0.ptr[i] }
        }
        captionRows = front
        return rng
    }

    /// One optimizer step; returns the loss before the update.
    @discardableResult
    public func trainStep() -> Double {
        let b = options.batch
        let s = trainer.config.sampleSize
        let l = captions.length
        var rng = drawBatch()
        capMask.withUnsafeBufferPointer { m in
            predEval.setCaptions(
                features: capFeat.ptr, mask: m.baseAddress!, length: l, captionRows: captionRows,
                rows: b)
        }
        predEval.forward(x: xt.ptr, v: nil, t: tb.ptr, out: vPrev.ptr)
        for k in 0..<b {
            let dt = Float(maxDeltaT * (1 - rng.uniform()))  // (0, maxΔt]
            tNext.ptr[k] = min(tb.ptr[k] + dt, 1)
            for i in (k * s)..<((k + 1) * s) { xNext.ptr[i] = xt.ptr[i] + dt * vPrev.ptr[i] }
        }
        predEval.forward(x: xNext.ptr, v: nil, t: tNext.ptr, out: target.ptr)
        capMask.withUnsafeBufferPointer { m in
            trainer.forward(
                x: xNext.ptr, v: vPrev.ptr, t: tNext.ptr, captions: capFeat.ptr, mask: m.baseAddress!,
                length: l, captionRows: captionRows, rows: b, out: out.ptr)
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
        m["flowturbo.train_objective"] = "flowturbo-refiner"
        m["flowturbo.task"] = "quad-canvas"
        m["flowturbo.train_seed"] = String(options.seed)
        m["flowturbo.train_batch"] = String(options.batch)
        m["flowturbo.train_lr"] = String(options.lr)
        m["flowturbo.train_warmup"] = String(options.warmup)
        m["flowturbo.train_caption_drop"] = String(options.labelDrop)
        m["flowturbo.train_max_delta_t"] = String(maxDeltaT)
        m["flowturbo.train_captions"] = String(pool.entries.count)
        m["flowturbo.train_predictor"] = predictor.source
        m[QuadRefinerTrainer.predictorDigestKey] = predictorDigest
        if let initSource { m[PixArtWarmStart.metadataKey] = initSource }
        return m.merging(extra) { _, b in b }
    }

    /// Tensors kept fixed by training but part of the model (pos_embed, the null caption).
    var fixed: [(name: String, shape: [Int], buffer: Buffer)] {
        trainer.weights.named.filter { n in !params.contains { $0.name == n.name } }
    }

    /// Writes a resumable checkpoint of the current state (also loadable as a refiner).
    public func saveCheckpoint(_ path: String, extra: [String: String] = [:]) throws {
        let shapes = Dictionary(uniqueKeysWithValues: trainer.weights.named.map { ($0.name, $0.shape) })
        try Checkpoint.save(
            path, params: params, shapes: shapes, adam: adam, ema: ema, step: step,
            metadata: runMetadata(extra: extra), fixed: fixed)
    }

    /// Restores a checkpoint written by `saveCheckpoint`; refuses one of another refiner config or predictor.
    public func resume(from path: String) throws {
        let f = try SafeTensors.load(path)
        if let c = try PixArtConfig.fromMetadata(f.metadata, source: path), c != trainer.config {
            throw FlowError(
                "\(path): checkpoint is for a different refiner (D \(c.hiddenSize), depth \(c.depth), "
                    + "\(c.numHeads) heads); resume with the same flags or a new \(.checkpoint)")
        }
        if let d = f.metadata[QuadRefinerTrainer.predictorDigestKey], d != predictorDigest {
            throw FlowError(
                "\(path): checkpoint was trained against another predictor (sha256 \(d.prefix(12))…, this one "
                    + "\(predictorDigest.prefix(12))…); pass that predictor or a new \(.checkpoint)")
        }
        step = try Checkpoint.load(path, params: params, adam: adam, ema: ema).step
        for (name, shape, buf) in fixed { buf.copy(from: try f.tensor(name, shape: shape).data) }
        initSource = f.metadata[PixArtWarmStart.metadataKey]
    }

    /// Warm start from a refiner file of the same config (e.g. one trained against an earlier predictor): its
    /// weights become the parameters and EMA; AdamW moments stay fresh, the step stays 0 and the null caption stays
    /// this predictor's.
    public func warmStart(from path: String) throws {
        initSource = try PixArtWarmStart.load(path, config: trainer.config, params: params, ema: ema)
    }

    /// The EMA weights as a fresh `PixArtWeights` (what ships), with the same fixed tensors.
    public func emaWeights() -> PixArtWeights {
        let w = PixArtWeights(config: trainer.config)
        let byName = Dictionary(uniqueKeysWithValues: w.named.map { ($0.name, $0.buffer) })
        for (k, p) in params.enumerated() { byName[p.name]!.ptr.update(from: ema.shadow[k].ptr, count: p.param.count) }
        for (name, _, buf) in fixed { byName[name]!.ptr.update(from: buf.ptr, count: buf.count) }
        return w
    }

    /// Runs until `options.steps`, logging (loss, samples/s, s/step, elapsed, ETA) and checkpointing; returns the
    /// mean loss of the last logging window.
    public func run(log: (String) -> Void) throws -> Double {
        try runTrainingLoop(
            options: options, step: { step }, trainStep: { trainStep() }, save: { try saveCheckpoint($0) }, log: log)
    }
}
