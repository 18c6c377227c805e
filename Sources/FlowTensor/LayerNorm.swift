import CFlowKernels

/// LayerNorm without affine parameters (eps 1e-6), as the SiT blocks and final layer use it.
public enum LayerNorm {
    public static let eps: Float = 1e-6

    /// out[r] = (x[r] − mean) / sqrt(var + eps) over `dim`, for each of `rows` rows (biased variance, as PyTorch).
    /// When `mean`/`rstd` are given, the per-row statistics are stored for the backward pass.
    /// `out` may alias `x`.
    @inline(__always)
    public static func forward(
        _ x: UnsafePointer<Float>, rows: Int, dim: Int, out: UnsafeMutablePointer<Float>,
        mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil
    ) {
        ft_layernorm(x, rows, dim, eps, out, mean, rstd)
    }

    /// LayerNorm fused with adaLN modulation: out = LN(x)·(1 + scale[b]) + shift[b], where row r belongs
    /// to batch item b = r / tokens and `shift`/`scale` are row-strided by `modStride`.
    @inline(__always)
    public static func forwardModulated(
        _ x: UnsafePointer<Float>, batch: Int, tokens: Int, dim: Int,
        shift: UnsafePointer<Float>, scale: UnsafePointer<Float>, modStride: Int,
        out: UnsafeMutablePointer<Float>
    ) {
        ft_layernorm_modulated(x, batch, tokens, dim, eps, shift, scale, modStride, out)
    }

    /// LayerNorm backward from the saved normalised rows `xhat` and `rstd` (from `forward`):
    /// dx (+)= rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat)) per row. `accumulate` adds into dx
    /// (the residual stream's gradient); otherwise dx is overwritten. dx may not alias dxhat unless
    /// `accumulate` is false.
    @inline(__always)
    public static func backward(
        dxhat: UnsafePointer<Float>, xhat: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        rows: Int, dim: Int, dx: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        let invD = 1 / Float(dim)
        for r in 0..<rows {
            let g = dxhat + r * dim
            let xh = xhat + r * dim
            let o = dx + r * dim
            let sg = FastMath.sum(g, dim)
            let sgx = FastMath.dot(g, xh, dim)
            let mg = sg * invD
            let mgx = sgx * invD
            let rs = rstd[r]
            if accumulate {
                for i in 0..<dim { o[i] += rs * (g[i] - mg - xh[i] * mgx) }
            } else {
                for i in 0..<dim { o[i] = rs * (g[i] - mg - xh[i] * mgx) }
            }
        }
    }
}
