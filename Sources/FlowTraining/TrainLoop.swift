import FlowModels
import FlowTensor
import Foundation

/// Options shared by the training loops (the CLI flags of `flowturbo train*`).
public struct TrainOptions {
    public var steps = 5000
    public var batch = 128
    public var lr: Float = 3e-4
    public var weightDecay: Float = 0
    public var warmup = 0
    public var clip: Float = 1
    public var seed: UInt64 = 0
    public var labelDrop = 0.1
    public var checkpointEvery = 200
    public var checkpointPath: String? = nil
    public var logEvery = 10
    public init() {}
}

/// Flow-matching training of a SiT predictor, or FlowTurbo refiner training against a frozen predictor.
///
/// Predictor (linear path): x_t = t·x1 + (1 − t)·x0, loss = mean‖v_θ(x_t, t, y) − (x1 − x0)‖², t ~ U(0, 1).
/// Refiner: v = v_θ(x_t, t, y); Δt ~ U(0, 0.12]; x' = x_t + Δt·v; t' = min(t + Δt, 1);
/// loss = mean‖(r_φ(x', v, t', y) + v) − v_θ(x', t', y)‖². Labels go to the null class with probability
/// `labelDrop` (the same label for predictor and refiner calls). All randomness of a step comes from
/// `stepRandom(seed, step)` and the batch from `BatchOrder`, so a resumed run continues bit-identically.
public final class FlowMatchingTrainer {
    public let trainer: SiTTrainer
    public let adam: AdamW
    public let ema: EMA
    public let options: TrainOptions
    public let predictor: SiTModel?
    public var step = 0
    let data: MNISTData
    var order: BatchOrder
    let params: [TrainableParameter]
    let predEval: SiTEvaluator?
    // per-step buffers
    let x1, x0, xt, target, out, dout, vPrev, xNext: Buffer
    let tb, tNext: Buffer
    var yb: [Int32]
    /// Largest refiner step Δt (FlowTurbo: 0.12).
    public var maxDeltaT = 0.12

    /// Sets up a trainer for `weights` (a refiner config needs `predictor`).
    public init(weights: SiTWeights, data: MNISTData, options: TrainOptions, predictor: SiTModel? = nil) throws {
        let c = weights.config
        guard c.inChannels == 1, c.inputSize == data.rows, data.rows == data.cols else {
            throw FlowError(
                "model expects \(c.inChannels)×\(c.inputSize)×\(c.inputSize) but the data is 1×\(data.rows)×\(data.cols)"
            )
        }
        if c.isRefiner {
            guard let p = predictor else {
                throw FlowError("refiner training needs a frozen predictor; pass \(.predictor) M")
            }
            guard !p.config.isRefiner, p.config.inChannels == c.inChannels, p.config.inputSize == c.inputSize,
                p.config.numClasses == c.numClasses
            else {
                throw FlowError(
                    "predictor \(p.source) (\(p.config.inChannels)×\(p.config.inputSize)², \(p.config.numClasses) classes) does not match the refiner"
                )
            }
        }
        self.options = options
        self.data = data
        self.predictor = predictor
        trainer = SiTTrainer(weights: weights, maxRows: options.batch)
        params = trainer.parameters
        adam = AdamW(params, weightDecay: options.weightDecay)
        ema = EMA(params)
        order = BatchOrder(count: data.count, batch: options.batch, seed: options.seed)
        predEval = predictor.map { $0.makeEvaluator(maxRows: options.batch, times: []) as! SiTEvaluator }
        let n = options.batch * c.sampleSize
        x1 = Buffer(count: n)
        x0 = Buffer(count: n)
        xt = Buffer(count: n)
        target = Buffer(count: n)
        out = Buffer(count: n)
        dout = Buffer(count: n)
        vPrev = Buffer(count: n)
        xNext = Buffer(count: n)
        tb = Buffer(count: options.batch)
        tNext = Buffer(count: options.batch)
        yb = [Int32](repeating: 0, count: options.batch)
    }

    /// PyTorch shapes of the parameters by name (for checkpoints).
    public var shapes: [String: [Int]] {
        Dictionary(uniqueKeysWithValues: trainer.weights.named.map { ($0.name, $0.shape) })
    }

    /// One optimizer step; returns the loss before the update.
    @discardableResult
    public func trainStep() -> Double {
        let c = trainer.config
        let b = options.batch
        let s = c.sampleSize
        var rng = stepRandom(seed: options.seed, step: step)
        let idx = order.indices(step: step)
        for (k, i) in idx.enumerated() {
            data.images.withUnsafeBufferPointer { (x1.ptr + k * s).update(from: $0.baseAddress! + i * s, count: s) }
            yb[k] = rng.uniform() < options.labelDrop ? Int32(c.numClasses) : data.labels[i]
            tb.ptr[k] = Float(rng.uniform())
        }
        for i in 0..<(b * s) { x0.ptr[i] = Float(rng.normal()) }
        for k in 0..<b {
            let t = tb.ptr[k]
            for i in (k * s)..<((k + 1) * s) { xt.ptr[i] = t * x1.ptr[i] + (1 - t) * x0.ptr[i] }
        }
        let loss: Double
        if let pe = predEval {
            // refiner objective against the frozen predictor
            pe.forward(x: xt.ptr, v: nil, t: tb.ptr, labels: yb, rows: b, out: vPrev.ptr)
            for k in 0..<b {
                let dt = Float(maxDeltaT * (1 - rng.uniform()))  // (0, maxΔt]
                tNext.ptr[k] = min(tb.ptr[k] + dt, 1)
                for i in (k * s)..<((k + 1) * s) { xNext.ptr[i] = xt.ptr[i] + dt * vPrev.ptr[i] }
            }
            pe.forward(x: xNext.ptr, v: nil, t: tNext.ptr, labels: yb, rows: b, out: target.ptr)
            trainer.forward(x: xNext.ptr, v: vPrev.ptr, t: tNext.ptr, labels: yb, rows: b, out: out.ptr)
        } else {
            for i in 0..<(b * s) { target.ptr[i] = x1.ptr[i] - x0.ptr[i] }
            trainer.forward(x: xt.ptr, v: nil, t: tb.ptr, labels: yb, rows: b, out: out.ptr)
        }
        loss = SiTTrainer.mseLoss(out: out.ptr, target: target.ptr, count: b * s, dout: dout.ptr)
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
        m["flowturbo.train_objective"] = trainer.config.isRefiner ? "flowturbo-refiner" : "flow-matching-linear"
        m["flowturbo.train_seed"] = String(options.seed)
        m["flowturbo.train_batch"] = String(options.batch)
        m["flowturbo.train_lr"] = String(options.lr)
        if let p = predictor { m["flowturbo.train_predictor"] = p.source }
        return m.merging(extra) { _, b in b }
    }

    /// Writes a resumable checkpoint of the current state.
    public func saveCheckpoint(_ path: String) throws {
        let fixed = trainer.weights.named.filter { n in !params.contains { $0.name == n.name } }
        try Checkpoint.save(
            path, params: params, shapes: shapes, adam: adam, ema: ema, step: step, metadata: runMetadata(),
            fixed: fixed.map { ($0.name, $0.shape, $0.buffer) })
    }

    /// Restores a checkpoint written by `saveCheckpoint`.
    public func resume(from path: String) throws {
        let meta = try SafeTensors.load(path).metadata
        if let c = try SiTConfig.fromMetadata(meta, source: path), c != trainer.config {
            throw FlowError(
                "\(path): checkpoint is for a different model (depth \(c.depth), D \(c.hiddenSize), refiner \(c.isRefiner)); resume with the same model flags or a new \(.checkpoint)"
            )
        }
        step = try Checkpoint.load(path, params: params, adam: adam, ema: ema).step
    }

    /// Copies the EMA weights into a fresh `SiTWeights` (what ships).
    public func emaWeights() -> SiTWeights {
        let w = SiTWeights(config: trainer.config)
        let byName = Dictionary(uniqueKeysWithValues: w.named.map { ($0.name, $0.buffer) })
        for (k, p) in params.enumerated() { byName[p.name]!.ptr.update(from: ema.shadow[k].ptr, count: p.param.count) }
        return w
    }

    /// Runs until `options.steps`, logging a progress line to `log` and checkpointing; returns the mean
    /// loss of the last logging window.
    public func run(log: (String) -> Void) throws -> Double {
        try runTrainingLoop(
            options: options, step: { step }, trainStep: { trainStep() }, save: { try saveCheckpoint($0) }, log: log)
    }
}
