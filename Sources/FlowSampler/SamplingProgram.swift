import Foundation
import FlowModels
import FlowTensor

/// A sampling plan compiled for fixed models, batch size and guidance ("sample-aware compilation").
///
/// Built once: the step schedule, the time grid, the evaluators (created with the plan's time grid so the
/// model can precompute per-(t, y) work when `setLabels` is called once per batch) and every buffer.
/// `run` then performs no heap allocation: each model call is followed by one fused pass that applies
/// guidance (v = v_null + s (v_cond − v_null)) and the solver update, and writes the next model input.
///
/// Buffer layout: rows are [cond (count); null (count)] when guidance is active, only cond otherwise.
/// `x` holds the state (count rows), `xin`/`vin` the model inputs (both halves), `vout` the model output,
/// `d` the current step's velocity and `cache` the cached velocity (P steps, the refiner's v_prev).
public final class SamplingProgram {
    /// What the program was compiled for.
    public let options: SamplerOptions
    /// The predictor (velocity field).
    public let predictor: VelocityField
    /// The refiner, if the plan has R steps.
    public let refiner: VelocityField?

    enum StepKind { case heun, pseudo, refine, euler }
    let schedule: [StepKind]
    let stepCount: Int
    let dt: Float
    let sampleSize: Int
    let batch: Int
    let guided: Bool
    let scale: Float
    let guidedCount: Int
    let nullLabel: Int32
    let predictorEval: VelocityEvaluator?
    let refinerEval: VelocityEvaluator?
    /// The same evaluators when their model is caption-conditioned (PixArt-α), else nil.
    let predictorCaptions: CaptionConditionedEvaluator?
    let refinerCaptions: CaptionConditionedEvaluator?
    /// Longest caption (tokens) `run(…captions…)` accepts.
    public let maxCaptionLength: Int
    /// The batch's captions, set only for the duration of `run(…captions…)`.
    var captionInput: CaptionInput? = nil
    let x, xin, vin, vout: UnsafeMutablePointer<Float>
    var d, cache: UnsafeMutablePointer<Float>
    let rowLabels: UnsafeMutablePointer<Int32>
    /// `batch` null labels (the labels a caption-conditioned run passes on).
    let nullLabels: UnsafeMutablePointer<Int32>
    // dopri5 path
    let dopri: Dopri5?
    let field64: GuidedField64?
    let state64: UnsafeMutablePointer<Double>
    let perSampleNFE: UnsafeMutablePointer<Int32>

    /// Compiles `options.plan` for the given models. Throws if the plan needs a refiner that is missing, or
    /// the models do not fit together.
    public init(options: SamplerOptions, predictor: VelocityField, refiner: VelocityField?,
                maxCaptionLength: Int = 0) throws {
        let plan = options.plan
        guard options.batch > 0 else { throw FlowError("batch must be ≥ 1 (got \(options.batch))") }
        guard !predictor.isRefiner else { throw FlowError("the predictor is a refiner checkpoint; pass the base model as --model and the refiner as --refiner") }
        if plan.needsRefiner {
            guard let r = refiner else {
                throw FlowError("plan \"\(plan)\" has R steps but no refiner was given: pass --refiner FILE or drop the R part (\(Plan.grammar))")
            }
            guard r.isRefiner else { throw FlowError("--refiner model is not a refiner (it takes no previous velocity)") }
            guard r.sampleShape == predictor.sampleShape else {
                throw FlowError("refiner sample shape \(r.sampleShape) differs from the predictor's \(predictor.sampleShape)")
            }
        }
        guard options.guidance.scale.isFinite else { throw FlowError("guidance scale must be finite") }
        if let c = options.guidance.channels, c <= 0 { throw FlowError("guidance channels must be ≥ 1 (or omitted for all)") }
        if case .dopri5 = plan.kind {
            guard options.rtol > 0, options.atol > 0 else { throw FlowError("dopri5 needs rtol > 0 and atol > 0") }
        }
        self.options = options
        self.predictor = predictor
        self.refiner = plan.needsRefiner ? refiner : nil
        sampleSize = predictor.sampleSize
        batch = options.batch
        scale = options.guidance.scale
        let captioned = predictor is CaptionConditionedField
        guided = options.guidance.isActive && (predictor.numClasses > 0 || captioned)
        nullLabel = Int32(predictor.numClasses)
        let channels = predictor.sampleShape.first ?? 1
        if let c = options.guidance.channels {
            guidedCount = min(c, channels) * (sampleSize / max(channels, 1))
        } else {
            guidedCount = sampleSize
        }
        var steps: [StepKind] = []
        switch plan.kind {
        case let .turbo(h, p, r):
            steps = Array(repeating: .heun, count: h) + Array(repeating: .pseudo, count: p) + Array(repeating: .refine, count: r)
        case let .euler(n):
            steps = Array(repeating: .euler, count: n)
        case .dopri5:
            steps = []
        }
        schedule = steps
        let nSteps = steps.count
        stepCount = nSteps
        dt = nSteps > 0 ? 1 / Float(nSteps) : 0
        let times: [Float] = nSteps > 0 ? (0...nSteps).map { Float($0) / Float(nSteps) } : []
        let rows = guided ? 2 * batch : batch
        let s = sampleSize
        x = .allocate(capacity: batch * s)
        xin = .allocate(capacity: rows * s); vin = .allocate(capacity: rows * s); vout = .allocate(capacity: rows * s)
        d = .allocate(capacity: batch * s); cache = .allocate(capacity: batch * s)
        x.initialize(repeating: 0, count: batch * s)
        d.initialize(repeating: 0, count: batch * s)
        cache.initialize(repeating: 0, count: batch * s)
        xin.initialize(repeating: 0, count: rows * s)
        vin.initialize(repeating: 0, count: rows * s)
        vout.initialize(repeating: 0, count: rows * s)
        rowLabels = .allocate(capacity: rows)
        nullLabels = .allocate(capacity: batch)
        nullLabels.initialize(repeating: Int32(predictor.numClasses), count: batch)
        state64 = .allocate(capacity: s)
        perSampleNFE = .allocate(capacity: batch)
        perSampleNFE.initialize(repeating: 0, count: batch)
        let effective = guided ? options.guidance : Guidance(scale: 1)
        if stepCount == 0, captioned || refiner is CaptionConditionedField {
            throw FlowError("dopri5 does not take caption-conditioned models yet; use a fixed-step plan "
                            + "(H{a}P{b}R{c} or E{n})")
        }
        self.maxCaptionLength = max(maxCaptionLength, (predictor as? CaptionConditionedField)?.captionTokens ?? 0,
                                    (self.refiner as? CaptionConditionedField)?.captionTokens ?? 0)
        if stepCount == 0 {
            predictorEval = nil
            refinerEval = nil
            predictorCaptions = nil
            refinerCaptions = nil
            dopri = Dopri5(dimension: s)
            if let g = predictor as? GaussianMixtureField {
                field64 = MixtureField64(field: g, guidance: effective, guidedCount: guidedCount)
            } else {
                field64 = EvaluatorField64(field: predictor, guidance: effective, guidedCount: guidedCount)
            }
        } else {
            (predictorEval, predictorCaptions) = SamplingProgram.evaluator(predictor, rows: rows, times: times,
                                                                           captionLength: self.maxCaptionLength)
            if let r = self.refiner {
                (refinerEval, refinerCaptions) = SamplingProgram.evaluator(r, rows: rows, times: times,
                                                                           captionLength: self.maxCaptionLength)
            } else {
                (refinerEval, refinerCaptions) = (nil, nil)
            }
            dopri = nil
            field64 = nil
        }
    }

    deinit {
        for p in [x, xin, vin, vout, d, cache] { p.deallocate() }
        rowLabels.deallocate(); state64.deallocate(); perSampleNFE.deallocate()
        nullLabels.deallocate()
    }

    /// Shape of one output sample.
    public var sampleShape: [Int] { predictor.sampleShape }

    /// Model calls of sample `row` in the last `run` (differs per sample only for dopri5).
    public func nfe(ofRow row: Int) -> Int { Int(perSampleNFE[row]) }

    /// Samples global indices firstIndex ..< firstIndex+count (count ≤ batch) with the given labels.
    ///
    /// Noise of sample i is `Noise.fill(seed:index:)`, and every row is computed independently of the
    /// others, so with one batch size the output does not depend on the neighbours in a batch (across batch sizes
    /// optimised BLAS kernels may round differently: they choose algorithms by matrix size). Labels outside 0..<numClasses mean the
    /// null class. Writes count × sampleSize floats to `out`. Allocation-free.
    public func run(seed: UInt64, firstIndex: Int, count: Int, labels: UnsafePointer<Int32>,
                    out: UnsafeMutablePointer<Float>) -> RunStats {
        precondition(count >= 0 && count <= batch, "SamplingProgram.run: count \(count) > batch \(batch)")
        var stats = RunStats()
        if count == 0 { return stats }
        let start = Clock.now()
        let s = sampleSize
        for r in 0..<count {
            Noise.fill(seed: seed, index: firstIndex + r, into: x + r * s, count: s)
            let l = labels[r]
            rowLabels[r] = (predictor.numClasses == 0 || l < 0 || l >= nullLabel) ? nullLabel : l
            if guided { rowLabels[count + r] = nullLabel }
        }
        if let dopri = dopri, let f = field64 {
            var total = 0
            var modelStart = 0.0
            if let e = f as? EvaluatorField64 { modelStart = e.modelSeconds }
            for r in 0..<count {
                for j in 0..<s { state64[j] = Double(x[r * s + j]) }
                f.setLabel(rowLabels[r])
                let n = dopri.solve(f, state: state64, rtol: options.rtol, atol: options.atol)
                perSampleNFE[r] = Int32(n)
                total += n
                for j in 0..<s { out[r * s + j] = Float(state64[j]) }
            }
            stats.predictorNFE = (total + count / 2) / count
            let elapsed = Clock.now() - start
            if let e = f as? EvaluatorField64 {
                stats.predictorSeconds = e.modelSeconds - modelStart
            } else {
                stats.predictorSeconds = elapsed   // the float64 mixture path is all model time
            }
            stats.solverSeconds = max(0, elapsed - stats.predictorSeconds)
            return stats
        }
        let rows = guided ? 2 * count : count
        // Per-batch conditioning (timestep/label embeddings and every block's adaLN vectors for all plan times)
        // is model work: it counts as predictor/refiner time, not as time outside the model.
        let c0 = Clock.now()
        predictorCaptions?.setCaptions(features: captionInput?.features, mask: captionInput?.mask,
                                       length: captionInput?.length ?? 0, captionRows: captionInput == nil ? 0 : count,
                                       rows: rows)
        predictorEval!.setLabels(rowLabels, rows: rows)
        let c1 = Clock.now()
        refinerCaptions?.setCaptions(features: captionInput?.features, mask: captionInput?.mask,
                                     length: captionInput?.length ?? 0, captionRows: captionInput == nil ? 0 : count,
                                     rows: rows)
        refinerEval?.setLabels(rowLabels, rows: rows)
        let c2 = Clock.now()
        let n = count * s
        let half = guided ? n : 0
        copyToInput(from: x, n: n, half: half)
        var hasCache = false
        var pCalls = 0, rCalls = 0
        var pTime = c1 - c0, rTime = refinerEval == nil ? 0 : c2 - c1
        let h = dt, h2 = dt / 2
        for i in 0..<stepCount {
            switch schedule[i] {
            case .heun, .pseudo:
                if schedule[i] == .heun || !hasCache {
                    pTime += callPredictor(timeIndex: i); pCalls += 1
                    fusedPredict(n: n, half: half, h: h)            // d = g(vout); xin = x + h d
                } else {
                    swap(&d, &cache)                                // d_i = cached d' (no evaluation)
                    predictFromD(n: n, half: half, h: h)            // xin = x + h d
                }
                pTime += callPredictor(timeIndex: i + 1); pCalls += 1
                fusedCorrect(n: n, half: half, h2: h2)              // d' = g(vout); x += h/2 (d + d'); cache = d'; xin = x
                hasCache = true
            case .euler:
                pTime += callPredictor(timeIndex: i); pCalls += 1
                fusedEuler(n: n, half: half, h: h)                  // d = g(vout); x += h d; xin = x
                swap(&d, &cache)
                hasCache = true
            case .refine:
                if !hasCache {                                      // bootstrap v_prev with one predictor call
                    pTime += callPredictor(timeIndex: i); pCalls += 1
                    guideInto(cache, n: n, half: half)
                    hasCache = true
                }
                // The refiner returns r + v_prev with the same v_prev in both halves, so guidance on its
                // full output equals guidance on the offset r (v_prev cancels in v_n + s (v_c − v_n)).
                copyToV(from: cache, n: n, half: half)
                rTime += callRefiner(timeIndex: i); rCalls += 1
                if options.refinerStep == .heun {
                    fusedRefinePredict(n: n, half: half, h: h)      // d = g(vout); xin = x + h d; vin = d
                    rTime += callRefiner(timeIndex: i + 1); rCalls += 1
                    fusedRefineCorrect(n: n, half: half, h2: h2)    // x += h/2 (d + g(vout)); xin = x
                } else {
                    fusedEuler(n: n, half: half, h: h)              // d = g(vout); x += h d; xin = x
                }
                swap(&d, &cache)                                    // d_i is the next v_prev
            }
        }
        for j in 0..<n { out[j] = x[j] }
        for r in 0..<count { perSampleNFE[r] = Int32(pCalls + rCalls) }
        let elapsed = Clock.now() - start
        stats.predictorSeconds = pTime
        stats.refinerSeconds = rTime
        stats.solverSeconds = max(0, elapsed - pTime - rTime)
        stats.predictorNFE = pCalls
        stats.refinerNFE = rCalls
        return stats
    }

    // MARK: model calls

    @inline(__always)
    private func callPredictor(timeIndex: Int) -> Double {
        let t0 = Clock.now()
        predictorEval!.evaluate(x: xin, v: nil, timeIndex: timeIndex, out: vout)
        return Clock.now() - t0
    }

    @inline(__always)
    private func callRefiner(timeIndex: Int) -> Double {
        let t0 = Clock.now()
        refinerEval!.evaluate(x: xin, v: vin, timeIndex: timeIndex, out: vout)
        return Clock.now() - t0
    }
}
