import CFlowKernels

/// Elementwise activations: GELU (tanh form, PyTorch `approximate="tanh"`) and SiLU.
public enum Activations {
    static let geluC: Float = 0.797_884_560_802_865_4  // sqrt(2/π)

    /// In-place GELU(x) = 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³), over `n` floats.
    ///
    /// Evaluated as x·σ(2u) = x / (1 + e^{−2u}) — the same function (1 + tanh u = 2σ(2u)) with one exp and
    /// one division, and without the cancellation of 1 + tanh(u) for very negative u.
    @inline(__always)
    /// Runs the vector kernel of the CPU's family (`ElementwiseKernels`).
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        ft_gelu(x, n)
    }

    /// out = GELU(x) (out may alias x).
    @inline(__always)
    public static func gelu(_ x: UnsafePointer<Float>, count n: Int, out: UnsafeMutablePointer<Float>) {
        if UnsafePointer(out) != x { out.update(from: x, count: n) }
        gelu(out, count: n)
    }

    /// In-place SiLU(x) = x·σ(x) over `n` floats.
    @inline(__always)
    public static func silu(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        ft_silu(x, n)
    }

    /// out = SiLU(x) (out may alias x).
    @inline(__always)
    public static func silu(_ x: UnsafePointer<Float>, count n: Int, out: UnsafeMutablePointer<Float>) {
        if UnsafePointer(out) != x { out.update(from: x, count: n) }
        silu(out, count: n)
    }

    /// GELU(tanh) backward: dx = dout · GELU'(x), from the pre-activation `x`. dx may alias dout.
    @inline(__always)
    public static func geluBackward(
        x: UnsafePointer<Float>, dout: UnsafePointer<Float>, count n: Int,
        dx: UnsafeMutablePointer<Float>
    ) {
        typealias V = FastMath.V
        @inline(__always) func grad(_ v: V) -> V {
            let inner = geluC * (v + 0.044715 * v * v * v)
            let th = FastMath.tanh(inner)
            let dInner = geluC * (1 + 3 * 0.044715 * v * v)
            return 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * dInner
        }
        var i = 0
        while i + 8 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
            let g = UnsafeRawPointer(dout + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(dx + i).storeBytes(of: g * grad(v), as: V.self)
            i += 8
        }
        while i < n {
            dx[i] = dout[i] * grad(V(repeating: x[i]))[0]
            i += 1
        }
    }

    /// SiLU backward: dx = dout · σ(x)(1 + x(1 − σ(x))), from the pre-activation `x`. dx may alias dout.
    @inline(__always)
    public static func siluBackward(
        x: UnsafePointer<Float>, dout: UnsafePointer<Float>, count n: Int,
        dx: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<n {
            let v = x[i]
            let s = 1 / (1 + FastMath.exp(-v))
            dx[i] = dout[i] * s * (1 + v * (1 - s))
        }
    }
}
