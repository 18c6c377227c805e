/// LayerNorm with affine weight and bias and a chosen eps (PyTorch `nn.LayerNorm(dim, eps)`; BERT uses 1e-12),
/// forward and backward side by side. Rows are `dim` floats.
public enum LayerNormAffine {
    /// out[r] = (x[r] − mean) / sqrt(var + eps) · weight + bias (biased variance, two passes).
    /// Saves per-row `mean`/`rstd` when given. `out` may alias `x`.
    @inline(__always)
    public static func forward(
        _ x: UnsafePointer<Float>, rows: Int, dim: Int, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, eps: Float, out: UnsafeMutablePointer<Float>,
        mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil
    ) {
        let invD = 1 / Float(dim)
        for r in 0..<rows {
            let xr = x + r * dim
            let m = FastMath.sum(xr, dim) * invD
            let v = FastMath.sumSquaredDeviations(xr, dim, mean: m) * invD
            let rs = 1 / (v + eps).squareRoot()
            let o = out + r * dim
            for i in 0..<dim { o[i] = (xr[i] - m) * rs * weight[i] + bias[i] }
            mean?[r] = m
            rstd?[r] = rs
        }
    }

    /// Backward from the input `x` and the saved `mean`/`rstd`: dweight += Σ dout·x̂, dbias += Σ dout,
    /// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dout·weight (overwritten, or added when
    /// `accumulate`).
    @inline(__always)
    public static func backward(
        dout: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, dim: Int,
        dx: UnsafeMutablePointer<Float>, accumulate: Bool,
        dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>
    ) {
        let invD = 1 / Float(dim)
        for r in 0..<rows {
            let d = dout + r * dim
            let xr = x + r * dim
            let o = dx + r * dim
            let m = mean[r]
            let rs = rstd[r]
            var sg: Float = 0
            var sgx: Float = 0
            for i in 0..<dim {
                let xh = (xr[i] - m) * rs
                let g = d[i] * weight[i]
                sg += g
                sgx += g * xh
                dweight[i] += d[i] * xh
                dbias[i] += d[i]
            }
            let mg = sg * invD
            let mgx = sgx * invD
            for i in 0..<dim {
                let xh = (xr[i] - m) * rs
                let v = rs * (d[i] * weight[i] - mg - xh * mgx)
                if accumulate { o[i] += v } else { o[i] = v }
            }
        }
    }
}
