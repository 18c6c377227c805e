import Foundation

/// Exact GELU, 0.5·x·(1 + erf(x/√2)) (PyTorch `nn.GELU()` default, BERT's "gelu"), forward and backward.
public enum GeluErf {
    static let invSqrt2: Float = 0.707_106_781_186_547_5
    static let invSqrt2Pi: Float = 0.398_942_280_401_432_7  // 1/√(2π)

    /// In place over `n` floats.
    @inline(__always)
    public static func forward(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n {
            let v = x[i]
            x[i] = 0.5 * v * (1 + erff(v * invSqrt2))
        }
    }

    /// dx = dout · (Φ(x) + x·φ(x)) from the pre-activation `x`; dx may alias dout.
    @inline(__always)
    public static func backward(
        x: UnsafePointer<Float>, dout: UnsafePointer<Float>, count n: Int,
        dx: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<n {
            let v = x[i]
            let cdf = 0.5 * (1 + erff(v * invSqrt2))
            let pdf = invSqrt2Pi * expf(-0.5 * v * v)
            dx[i] = dout[i] * (cdf + v * pdf)
        }
    }
}
