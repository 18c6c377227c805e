import FlowModels
import FlowTensor

/// A dopri5 solve that ran out of steps before reaching t = 1: the sample is not returned.
public struct Dopri5NotConverged: Error, CustomStringConvertible, Equatable {
    /// Global index of the sample.
    public let sampleIndex: Int
    /// Steps attempted (the budget).
    public let steps: Int
    /// Time reached, in [0, 1).
    public let time: Double
    /// Tolerances of the solve.
    public let rtol: Double
    public let atol: Double

    public var description: String {
        "dopri5 did not converge for sample \(sampleIndex): \(steps) steps reached only t = \(time) of 1 "
            + "(rtol \(rtol), atol \(atol)); raise \(Setting.maxSteps) or loosen \(Setting.rtol)/\(Setting.atol)"
    }
}

/// The adaptive engine: Dormand–Prince 5(4) per sample in float64 (the reference plan `dopri5`).
///
/// A field with a native float64 form (`VelocityField.float64`, the Gaussian mixture) is integrated in float64
/// throughout; any other field through its float32 evaluator. Samples are solved one at a time, so each has its
/// own step sizes and model-call count (`nfe(ofRow:)`).
public final class AdaptiveProgram: SamplingProgram {
    /// What the program was compiled for.
    public let options: SamplerOptions
    /// The predictor (velocity field).
    public let predictor: VelocityField
    let sampleSize: Int
    let batch: Int
    let nullLabel: Int32
    let dopri: Dopri5
    let field: GuidedField64
    /// The same field when it goes through the float32 evaluator (its model time is measured separately).
    let evaluatorField: EvaluatorField64?
    let x: UnsafeMutablePointer<Float>
    let state: UnsafeMutablePointer<Double>
    let perSampleNFE: UnsafeMutablePointer<Int32>

    /// Compiles dopri5; `Sampler.compile` has checked the options and models.
    init(options: SamplerOptions, predictor: VelocityField) {
        self.options = options
        self.predictor = predictor
        sampleSize = predictor.sampleSize
        batch = options.batch
        nullLabel = Int32(predictor.numClasses)
        let guided = options.guidance.isActive && predictor.numClasses > 0
        let guidance = guided ? options.guidance : Guidance(scale: 1)
        let guidedCount = Sampler.guidedCount(options.guidance, sampleShape: predictor.sampleShape)
        dopri = Dopri5(dimension: sampleSize, maxSteps: options.maxSteps)
        if let f64 = predictor.float64 {
            field = MixtureField64(field: f64, guidance: guidance, guidedCount: guidedCount)
            evaluatorField = nil
        } else {
            let e = EvaluatorField64(field: predictor, guidance: guidance, guidedCount: guidedCount)
            field = e
            evaluatorField = e
        }
        x = .allocate(capacity: sampleSize)
        state = .allocate(capacity: sampleSize)
        perSampleNFE = .allocate(capacity: batch)
        perSampleNFE.initialize(repeating: 0, count: batch)
    }

    deinit {
        x.deallocate()
        state.deallocate()
        perSampleNFE.deallocate()
    }

    /// Shape of one output sample.
    public var sampleShape: [Int] { predictor.sampleShape }

    /// Model calls of sample `row` in the last `run`.
    public func nfe(ofRow row: Int) -> Int { Int(perSampleNFE[row]) }

    /// See `SamplingProgram.run(seed:firstIndex:count:labels:out:)`. Throws `Dopri5NotConverged` when a sample's
    /// solve runs out of steps (`SamplerOptions.maxSteps`); rows before it are written, the rest are not.
    public func run(
        seed: UInt64, firstIndex: Int, count: Int, labels: UnsafePointer<Int32>,
        out: UnsafeMutablePointer<Float>
    ) throws -> RunStats {
        precondition(count >= 0 && count <= batch, "SamplingProgram.run: count \(count) > batch \(batch)")
        var stats = RunStats()
        if count == 0 { return stats }
        let start = Clock.now()
        let modelStart = evaluatorField?.modelSeconds ?? 0
        let s = sampleSize
        var total = 0
        for r in 0..<count {
            Noise.fill(seed: seed, index: firstIndex + r, into: x, count: s)
            let l = labels[r]
            field.setLabel((predictor.numClasses == 0 || l < 0 || l >= nullLabel) ? nullLabel : l)
            for j in 0..<s { state[j] = Double(x[j]) }
            let outcome = dopri.solve(field, state: state, rtol: options.rtol, atol: options.atol)
            guard outcome.converged else {
                throw Dopri5NotConverged(
                    sampleIndex: firstIndex + r, steps: outcome.steps, time: outcome.time,
                    rtol: options.rtol, atol: options.atol)
            }
            perSampleNFE[r] = Int32(outcome.nfe)
            total += outcome.nfe
            for j in 0..<s { out[r * s + j] = Float(state[j]) }
        }
        stats.predictorNFE = (total + count / 2) / count
        let elapsed = Clock.now() - start
        if let e = evaluatorField {
            stats.predictorSeconds = e.modelSeconds - modelStart
        } else {
            stats.predictorSeconds = elapsed  // the float64 path is all model time
        }
        stats.solverSeconds = max(0, elapsed - stats.predictorSeconds)
        return stats
    }
}
