import FlowModels
import FlowTensor

/// A sampling plan compiled for fixed models, batch size and guidance ("sample-aware compilation").
///
/// Two engines implement it: `FixedStepProgram` (H/P/R and Euler plans on a fixed time grid, float32, batched) and
/// `AdaptiveProgram` (dopri5, float64, one sample at a time). `Sampler.compile` checks the options and picks one;
/// `sample(…)` (SamplingBatches.swift) drives either over any number of samples batch by batch.
public protocol SamplingProgram: AnyObject {
    /// Shape of one output sample.
    var sampleShape: [Int] { get }
    /// True when the program's predictor is conditioned on captions (PixArt-α) rather than class labels.
    var takesCaptions: Bool { get }
    /// Samples global indices firstIndex ..< firstIndex+count (count ≤ batch) with the given labels.
    ///
    /// Noise of sample i is `Noise.fill(seed:index:)`, and every row is computed independently of the others, so
    /// with one batch size the output does not depend on the neighbours in a batch. Labels outside 0..<numClasses
    /// mean the null class. Writes count × sampleSize floats to `out`. Allocation-free.
    func run(
        seed: UInt64, firstIndex: Int, count: Int, labels: UnsafePointer<Int32>,
        out: UnsafeMutablePointer<Float>
    ) throws -> RunStats
    /// `run` for a caption-conditioned predictor: row r of the batch is conditioned on caption r.
    func run(
        seed: UInt64, firstIndex: Int, count: Int, captions: CaptionInput,
        out: UnsafeMutablePointer<Float>
    ) throws -> RunStats
    /// Model calls of sample `row` in the last `run` (differs per sample only for adaptive plans).
    func nfe(ofRow row: Int) -> Int
}

extension SamplingProgram {
    /// Programs take class labels unless they say otherwise.
    public var takesCaptions: Bool { false }

    /// Programs without a caption-conditioned predictor refuse captions.
    public func run(
        seed: UInt64, firstIndex: Int, count: Int, captions: CaptionInput,
        out: UnsafeMutablePointer<Float>
    ) throws -> RunStats {
        throw FlowError("this program's model takes class labels, not captions; prompt runs need a text model")
    }
}

/// Compiles sampling programs.
public enum Sampler {
    /// Compiles `options.plan` for the given models. Throws if the plan needs a refiner that is missing, or the
    /// models do not fit together.
    public static func compile(
        options: SamplerOptions, predictor: VelocityField, refiner: VelocityField?,
        maxCaptionLength: Int = 0
    ) throws -> SamplingProgram {
        let plan = options.plan
        guard options.batch > 0 else { throw FlowError("batch must be ≥ 1 (got \(options.batch))") }
        guard !predictor.isRefiner else {
            throw FlowError(
                "the predictor is a refiner checkpoint; pass the base model as \(.model) and the refiner as \(.refiner)"
            )
        }
        if plan.needsRefiner {
            guard let r = refiner else {
                throw FlowError(
                    "plan \"\(plan)\" has R steps but no refiner was given: pass \(.refiner) FILE or drop the R part "
                        + "(\(Plan.grammar))")
            }
            guard r.isRefiner else {
                throw FlowError("\(.refiner) model is not a refiner (it takes no previous velocity)")
            }
            guard r.sampleShape == predictor.sampleShape else {
                throw FlowError(
                    "refiner sample shape \(r.sampleShape) differs from the predictor's \(predictor.sampleShape)")
            }
        }
        guard options.guidance.scale.isFinite else { throw FlowError("guidance scale must be finite") }
        if let c = options.guidance.channels, c <= 0 {
            throw FlowError("guidance channels must be ≥ 1 (or omitted for all)")
        }
        if case .dopri5 = plan.kind {
            guard options.rtol > 0, options.atol > 0 else { throw FlowError("dopri5 needs rtol > 0 and atol > 0") }
            guard options.maxSteps > 0 else { throw FlowError("dopri5 needs max steps ≥ 1 (got \(options.maxSteps))") }
            if predictor is CaptionConditionedField || refiner is CaptionConditionedField {
                throw FlowError(
                    "dopri5 does not take caption-conditioned models yet; use a fixed-step plan (H{a}P{b}R{c} or E{n})")
            }
            return AdaptiveProgram(options: options, predictor: predictor)
        }
        return FixedStepProgram(
            options: options, predictor: predictor, refiner: plan.needsRefiner ? refiner : nil,
            maxCaptionLength: maxCaptionLength)
    }

    /// Rows of the guided prefix of one sample: the leading `channels` channels (all when nil), in floats.
    static func guidedCount(_ guidance: Guidance, sampleShape: [Int]) -> Int {
        let size = sampleShape.reduce(1, *)
        guard let c = guidance.channels else { return size }
        let channels = sampleShape.first ?? 1
        return min(c, channels) * (size / max(channels, 1))
    }
}
