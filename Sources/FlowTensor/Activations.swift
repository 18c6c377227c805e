/// Elementwise activations: GELU (tanh form, PyTorch `approximate="tanh"`) and SiLU.
public enum Activations {
    static let geluC: Float = 0.797_884_560_802_865_4  // sqrt(2/π)

    /// In-place GELU(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) over `n` floats.
    @inline(__always)
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        FastMath.map(x, n) { v in
            let inner = geluC * (v + 0.044715 * v * v * v)
            return 0.5 * v * (1 + FastMath.tanh(inner))
        }
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
        FastMath.map(x, n) { v in v / (1 + FastMath.exp(-v)) }
    }

    /// out = SiLU(x) (out may alias x).
    @inline(__always)
    public static func silu(_ x: UnsafePointer<Float>, count n: Int, out: UnsafeMutablePointer<Float>) {
        if UnsafePointer(out) != x { out.update(from: x, count: n) }
        silu(out, count: n)
    }
}
