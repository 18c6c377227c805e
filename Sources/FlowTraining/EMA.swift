import FlowTensor

/// Exponential moving average of parameters: ema ← d·ema + (1 − d)·θ with d = min(maxDecay, (1 + step)/(10 + step)),
/// the warm-started decay of the MNIST recipe (docs/ALGORITHM.md), so early averages are not dominated by the init.
public final class EMA {
    public let maxDecay: Float
    /// Shadow copies, one per parameter, in the order given at init.
    public let shadow: [Buffer]
    let params: [TrainableParameter]

    /// Shadows initialised to the current parameters.
    public init(_ params: [TrainableParameter], maxDecay: Float = 0.999) {
        self.params = params
        self.maxDecay = maxDecay
        shadow = params.map { p in
            let b = Buffer(count: p.param.count)
            b.ptr.update(from: p.param.ptr, count: p.param.count)
            return b
        }
    }

    /// Decay used after optimizer step `step` (0-based).
    public func decay(step: Int) -> Float { min(maxDecay, Float(1 + step) / Float(10 + step)) }

    /// Moves every shadow towards its parameter.
    public func update(step: Int) {
        let d = decay(step: step)
        for (k, p) in params.enumerated() {
            let s = shadow[k].ptr
            let w = p.param.ptr
            for i in 0..<p.param.count { s[i] = d * s[i] + (1 - d) * w[i] }
        }
    }
}
