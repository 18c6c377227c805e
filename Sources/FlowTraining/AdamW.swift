import FlowTensor
import Foundation

/// One trainable tensor: its official name, the parameter and its gradient (same length).
public typealias TrainableParameter = (name: String, param: Buffer, grad: Buffer)

/// AdamW (decoupled weight decay, bias-corrected moments), exactly as `torch.optim.AdamW`:
/// m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p ← p·(1 − lr·wd) − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε).
public final class AdamW {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float
    /// Updates taken so far (t of the bias correction).
    public var t: Int = 0
    /// First and second moments, one pair per parameter, in the parameter order given at init.
    public let m: [Buffer]
    public let v: [Buffer]
    let params: [TrainableParameter]

    /// An optimizer over `params` with zeroed moments.
    public init(_ params: [TrainableParameter], weightDecay: Float = 0) {
        self.params = params
        self.weightDecay = weightDecay
        m = params.map { Buffer(count: $0.param.count) }
        v = params.map { Buffer(count: $0.param.count) }
    }

    /// One update with learning rate `lr` from the current gradients.
    public func step(lr: Float) {
        t += 1
        let bc1 = 1 - Float(pow(Double(beta1), Double(t)))
        let bc2 = 1 - Float(pow(Double(beta2), Double(t)))
        let decay = 1 - lr * weightDecay
        let b1 = beta1
        let b2 = beta2
        let e = eps
        for (k, p) in params.enumerated() {
            let w = p.param.ptr
            let g = p.grad.ptr
            let mk = m[k].ptr
            let vk = v[k].ptr
            for i in 0..<p.param.count {
                let gi = g[i]
                let mi = b1 * mk[i] + (1 - b1) * gi
                let vi = b2 * vk[i] + (1 - b2) * gi * gi
                mk[i] = mi
                vk[i] = vi
                w[i] = w[i] * decay - lr * (mi / bc1) / ((vi / bc2).squareRoot() + e)
            }
        }
    }

    /// Global L2 norm of all gradients; when it exceeds `maxNorm`, scales them by maxNorm/(norm + 1e-6)
    /// (`torch.nn.utils.clip_grad_norm_`). Returns the norm before clipping.
    @discardableResult
    public static func clipGradNorm(_ params: [TrainableParameter], maxNorm: Float) -> Float {
        var s = 0.0
        for p in params {
            let g = p.grad.ptr
            var ps: Float = 0
            for i in 0..<p.grad.count { ps += g[i] * g[i] }
            s += Double(ps)
        }
        let norm = Float(s.squareRoot())
        if maxNorm > 0, norm > maxNorm {
            let c = maxNorm / (norm + 1e-6)
            for p in params {
                let g = p.grad.ptr
                for i in 0..<p.grad.count { g[i] *= c }
            }
        }
        return norm
    }

    /// Learning rate at `step` (0-based) with a linear warm-up over `warmup` steps, constant after.
    public static func warmupLR(_ base: Float, step: Int, warmup: Int) -> Float {
        warmup > 0 && step < warmup ? base * Float(step + 1) / Float(warmup) : base
    }
}
