import CFlowKernels

/// adaLN-Zero pieces: modulate and the gated residual, broadcast per batch item over its tokens.
public enum Modulation {
    /// out[b, t, :] = x[b, t, :]·(1 + scale[b]) + shift[b]; `shift`/`scale` rows are `modStride` apart. out may alias x.
    @inline(__always)
    public static func modulate(
        _ x: UnsafePointer<Float>, batch: Int, tokens: Int, dim: Int,
        shift: UnsafePointer<Float>, scale: UnsafePointer<Float>, modStride: Int,
        out: UnsafeMutablePointer<Float>
    ) {
        ft_modulate(x, batch, tokens, dim, shift, scale, modStride, out)
    }

    /// x[b, t, :] += gate[b]·y[b, t, :] (the gated residual of a SiT block).
    @inline(__always)
    public static func gatedResidual(
        _ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, batch: Int, tokens: Int,
        dim: Int, gate: UnsafePointer<Float>, modStride: Int
    ) {
        ft_gated_residual(x, y, batch, tokens, dim, gate, modStride)
    }

    /// Backward of `modulate` (out = x·(1 + scale[b]) + shift[b]): dx = dout·(1 + scale[b]) (dx may alias dout),
    /// dshift[b] += Σ_t dout, dscale[b] += Σ_t dout·x. `dshift`/`dscale` rows are `modStride` apart.
    @inline(__always)
    public static func modulateBackward(
        dout: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int, tokens: Int, dim: Int,
        scale: UnsafePointer<Float>, modStride: Int, dx: UnsafeMutablePointer<Float>,
        dshift: UnsafeMutablePointer<Float>, dscale: UnsafeMutablePointer<Float>
    ) {
        for b in 0..<batch {
            let sc = scale + b * modStride
            let dsh = dshift + b * modStride
            let dsc = dscale + b * modStride
            for tk in 0..<tokens {
                let r = (b * tokens + tk) * dim
                for i in 0..<dim {
                    let g = dout[r + i]
                    dsh[i] += g
                    dsc[i] += g * x[r + i]
                    dx[r + i] = g * (1 + sc[i])
                }
            }
        }
    }

    /// Backward of `gatedResidual` (x += gate[b]·y): the residual passes dx through unchanged;
    /// dy = gate[b]·dx and dgate[b] += Σ_t dx·y (rows of `dgate` are `modStride` apart).
    @inline(__always)
    public static func gatedResidualBackward(
        dx: UnsafePointer<Float>, y: UnsafePointer<Float>, batch: Int, tokens: Int, dim: Int,
        gate: UnsafePointer<Float>, modStride: Int, dy: UnsafeMutablePointer<Float>,
        dgate: UnsafeMutablePointer<Float>
    ) {
        for b in 0..<batch {
            let g = gate + b * modStride
            let dg = dgate + b * modStride
            for tk in 0..<tokens {
                let r = (b * tokens + tk) * dim
                for i in 0..<dim {
                    dg[i] += dx[r + i] * y[r + i]
                    dy[r + i] = g[i] * dx[r + i]
                }
            }
        }
    }
}
