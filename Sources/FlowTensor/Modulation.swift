/// adaLN-Zero pieces: modulate and the gated residual, broadcast per batch item over its tokens.
public enum Modulation {
    /// out[b, t, :] = x[b, t, :]·(1 + scale[b]) + shift[b]; `shift`/`scale` rows are `modStride` apart. out may alias x.
    @inline(__always)
    public static func modulate(_ x: UnsafePointer<Float>, batch: Int, tokens: Int, dim: Int,
                                shift: UnsafePointer<Float>, scale: UnsafePointer<Float>, modStride: Int,
                                out: UnsafeMutablePointer<Float>) {
        for b in 0..<batch {
            let sh = shift + b * modStride, sc = scale + b * modStride
            for tk in 0..<tokens {
                let r = (b * tokens + tk) * dim
                for i in 0..<dim { out[r + i] = x[r + i] * (1 + sc[i]) + sh[i] }
            }
        }
    }

    /// x[b, t, :] += gate[b]·y[b, t, :] (the gated residual of a SiT block).
    @inline(__always)
    public static func gatedResidual(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, batch: Int, tokens: Int,
                                     dim: Int, gate: UnsafePointer<Float>, modStride: Int) {
        for b in 0..<batch {
            let g = gate + b * modStride
            for tk in 0..<tokens {
                let r = (b * tokens + tk) * dim
                for i in 0..<dim { x[r + i] += g[i] * y[r + i] }
            }
        }
    }
}
