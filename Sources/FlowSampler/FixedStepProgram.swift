import FlowModels
import FlowTensor

/// The fixed-step engine: H (Heun), P (pseudo-corrector), R (refiner) and E (Euler) steps on the grid t_i = i/N.
///
/// Built once: the step schedule, the time grid, the evaluators (created with the plan's time grid so the model can
/// precompute per-(t, y) work when `setLabels` is called once per batch) and every buffer. `run` then performs no
/// heap allocation: each model call is followed by one fused row pass (FixedStepPasses.swift) that applies guidance
/// (v = v_null + s (v_cond − v_null)) and the solver update, and writes the next model input.
///
/// Buffer layout: rows are [cond (count); null (count)] when guidance is active, only cond otherwise. `x` holds the
/// state (count rows), `xin`/`vin` the model inputs (both halves), `vout` the model output, `d` the current step's
/// velocity and `cache` the cached velocity (P steps, the refiner's v_prev).
public final class FixedStepProgram: SamplingProgram {
    /// What the program was compiled for.
    public let options: SamplerOptions
    /// The predictor (velocity field).
    public let predictor: VelocityField
    /// The refiner, if the plan has R steps.
    public let refiner: VelocityField?
    /// Longest caption (tokens) `run(…captions…)` accepts.
    public let maxCaptionLength: Int

    enum StepKind { case heun, pseudo, refine, euler }
    let schedule: [StepKind]
    let dt: Float
    let sampleSize: Int
    let batch: Int
    let guided: Bool
    let scale: Float
    let guidedCount: Int
    let nullLabel: Int32
    let predictorEval: VelocityEvaluator
    let refinerEval: VelocityEvaluator?
    /// The same evaluators when their model is caption-conditioned (PixArt-α), else nil.
    let predictorCaptions: CaptionConditionedEvaluator?
    let refinerCaptions: CaptionConditionedEvaluator?
    /// The batch's captions, set only for the duration of `run(…captions…)`.
    var captionInput: CaptionInput? = nil
    let x: UnsafeMutablePointer<Float>
    let xin: UnsafeMutablePointer<Float>
    let vin: UnsafeMutablePointer<Float>
    let vout: UnsafeMutablePointer<Float>
    var d: UnsafeMutablePointer<Float>
    var cache: UnsafeMutablePointer<Float>
    let rowLabels: UnsafeMutablePointer<Int32>
    /// `batch` null labels (the labels a caption-conditioned run passes on).
    let nullLabels: UnsafeMutablePointer<Int32>
    var calls: Int32 = 0

    /// Compiles a fixed-step plan; `Sampler.compile` has checked the options and models.
    init(options: SamplerOptions, predictor: VelocityField, refiner: VelocityField?, maxCaptionLength: Int) {
        self.options = options
        self.predictor = predictor
        self.refiner = refiner
        sampleSize = predictor.sampleSize
        batch = options.batch
        scale = options.guidance.scale
        guided = options.guidance.isActive && (predictor.numClasses > 0 || predictor is CaptionConditionedField)
        nullLabel = Int32(predictor.numClasses)
        guidedCount = Sampler.guidedCount(options.guidance, sampleShape: predictor.sampleShape)
        switch options.plan.kind {
        case .turbo(let h, let p, let r):
            schedule =
                Array(repeating: .heun, count: h) + Array(repeating: .pseudo, count: p)
                + Array(repeating: .refine, count: r)
        case .euler(let n):
            schedule = Array(repeating: .euler, count: n)
        case .dopri5:
            schedule = []
        }
        let steps = schedule.count
        dt = steps > 0 ? 1 / Float(steps) : 0
        let times: [Float] = (0...steps).map { Float($0) / Float(max(steps, 1)) }
        let rows = guided ? 2 * batch : batch
        let s = sampleSize
        func zeros(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: 0, count: count)
            return p
        }
        x = zeros(batch * s)
        d = zeros(batch * s)
        cache = zeros(batch * s)
        xin = zeros(rows * s)
        vin = zeros(rows * s)
        vout = zeros(rows * s)
        rowLabels = .allocate(capacity: rows)
        nullLabels = .allocate(capacity: batch)
        nullLabels.initialize(repeating: Int32(predictor.numClasses), count: batch)
        self.maxCaptionLength = max(
            maxCaptionLength, (predictor as? CaptionConditionedField)?.captionTokens ?? 0,
            (refiner as? CaptionConditionedField)?.captionTokens ?? 0)
        (predictorEval, predictorCaptions) = FixedStepProgram.evaluator(
            predictor, rows: rows, times: times, captionLength: self.maxCaptionLength)
        if let r = refiner {
            (refinerEval, refinerCaptions) = FixedStepProgram.evaluator(
                r, rows: rows, times: times, captionLength: self.maxCaptionLength)
        } else {
            (refinerEval, refinerCaptions) = (nil, nil)
        }
    }

    deinit {
        for p in [x, xin, vin, vout, d, cache] { p.deallocate() }
        rowLabels.deallocate()
        nullLabels.deallocate()
    }

    /// Shape of one output sample.
    public var sampleShape: [Int] { predictor.sampleShape }

    /// Every row of the last `run` made the same model calls.
    public func nfe(ofRow row: Int) -> Int { Int(calls) }

    /// See `SamplingProgram.run(seed:firstIndex:count:labels:out:)`; never throws.
    public func run(
        seed: UInt64, firstIndex: Int, count: Int, labels: UnsafePointer<Int32>,
        out: UnsafeMutablePointer<Float>
    ) -> RunStats {
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
        let rows = guided ? 2 * count : count
        // Per-batch conditioning (timestep/label embeddings and every block's adaLN vectors for all plan times)
        // is model work: it counts as predictor/refiner time, not as time outside the model.
        let c0 = Clock.now()
        setCaptions(predictorCaptions, count: count, rows: rows)
        predictorEval.setLabels(rowLabels, rows: rows)
        let c1 = Clock.now()
        setCaptions(refinerCaptions, count: count, rows: rows)
        refinerEval?.setLabels(rowLabels, rows: rows)
        let c2 = Clock.now()
        let n = count * s
        let half = guided ? n : 0
        broadcast(x, into: xin, n: n, half: half)
        var timing = StepTiming(predictor: c1 - c0, refiner: refinerEval == nil ? 0 : c2 - c1)
        for i in 0..<schedule.count { step(i, n: n, half: half, timing: &timing) }
        for j in 0..<n { out[j] = x[j] }
        calls = Int32(timing.predictorCalls + timing.refinerCalls)
        let elapsed = Clock.now() - start
        stats.predictorSeconds = timing.predictor
        stats.refinerSeconds = timing.refiner
        stats.solverSeconds = max(0, elapsed - timing.predictor - timing.refiner)
        stats.predictorNFE = timing.predictorCalls
        stats.refinerNFE = timing.refinerCalls
        return stats
    }

    /// Model seconds and calls of one `run`, and whether `cache` holds a velocity yet.
    struct StepTiming {
        var predictor: Double
        var refiner: Double
        var predictorCalls = 0
        var refinerCalls = 0
        var hasCache = false
    }

    /// Step `i` of the schedule: model calls, each followed by its fused row pass.
    @inline(__always)
    private func step(_ i: Int, n: Int, half: Int, timing t: inout StepTiming) {
        let h = dt
        let h2 = dt / 2
        switch schedule[i] {
        case .heun, .pseudo:
            if schedule[i] == .heun || !t.hasCache {
                callPredictor(timeIndex: i, &t)
                rowPass(.predict(h), n: n, half: half)  // d = g(vout); xin = x + h d
            } else {
                swap(&d, &cache)  // d_i = cached d' (no evaluation)
                rowPass(.predictFromD(h), n: n, half: half)  // xin = x + h d
            }
            callPredictor(timeIndex: i + 1, &t)
            rowPass(.correct(h2, cache: cache), n: n, half: half)  // d' = g(vout); x += h/2 (d + d'); cache = d'
            t.hasCache = true
        case .euler:
            callPredictor(timeIndex: i, &t)
            rowPass(.euler(h), n: n, half: half)  // d = g(vout); x += h d; xin = x
            swap(&d, &cache)
            t.hasCache = true
        case .refine:
            if !t.hasCache {  // bootstrap v_prev with one predictor call
                callPredictor(timeIndex: i, &t)
                rowPass(.guide(into: cache), n: n, half: half)
                t.hasCache = true
            }
            // The refiner returns r + v_prev with the same v_prev in both halves, so guidance on its full output
            // equals guidance on the offset r (v_prev cancels in v_n + s (v_c − v_n)).
            broadcast(cache, into: vin, n: n, half: half)
            callRefiner(timeIndex: i, &t)
            if options.refinerStep == .heun {
                rowPass(.refinePredict(h), n: n, half: half)  // d = g(vout); xin = x + h d; vin = d
                callRefiner(timeIndex: i + 1, &t)
                rowPass(.refineCorrect(h2), n: n, half: half)  // x += h/2 (d + g(vout)); xin = x
            } else {
                rowPass(.euler(h), n: n, half: half)  // d = g(vout); x += h d; xin = x
            }
            swap(&d, &cache)  // d_i is the next v_prev
        }
    }

    // MARK: model calls

    @inline(__always)
    private func callPredictor(timeIndex: Int, _ t: inout StepTiming) {
        let t0 = Clock.now()
        predictorEval.evaluate(x: xin, v: nil, timeIndex: timeIndex, out: vout)
        t.predictor += Clock.now() - t0
        t.predictorCalls += 1
    }

    @inline(__always)
    private func callRefiner(timeIndex: Int, _ t: inout StepTiming) {
        guard let refinerEval else { preconditionFailure("R step without a refiner (Sampler.compile rules this out)") }
        let t0 = Clock.now()
        refinerEval.evaluate(x: xin, v: vin, timeIndex: timeIndex, out: vout)
        t.refiner += Clock.now() - t0
        t.refinerCalls += 1
    }
}
