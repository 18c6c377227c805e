import CFlowKernels

/// Multi-head softmax self-attention on a fused qkv buffer (timm `Attention` layout).
///
/// `qkv` holds rows of 3·D values ordered [q | k | v], each split into `heads` blocks of
/// `headDim` (= D / heads), exactly as `qkv.reshape(B, N, 3, H, hd)` reads it. The result is
/// written with heads concatenated ([B·T, D]), ready for the output projection.
public enum Attention {
    /// Scratch floats needed by `forward` for `tokens` tokens (one T×T score matrix).
    public static func scratchCount(tokens: Int) -> Int { tokens * tokens }

    /// out[b, t, h·hd + j] = Σ_s softmax_s(q·k/√hd) v[s, j] for each batch item and head.
    /// Softmax is numerically stable (max subtracted). When `probs` is non-nil the attention
    /// probabilities for every (b, h) are saved there ([B, H, T, T]) for the backward pass.
    public static func forward(
        qkv: UnsafePointer<Float>, batch: Int, tokens: Int, heads: Int, headDim: Int,
        out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        probs: UnsafeMutablePointer<Float>? = nil
    ) {
        let d = heads * headDim
        let stride = 3 * d
        let scale = 1 / Float(headDim).squareRoot()
        for b in 0..<batch {
            let base = qkv + b * tokens * stride
            for h in 0..<heads {
                let q = base + h * headDim
                let k = base + d + h * headDim
                let v = base + 2 * d + h * headDim
                // (if-let, not Optional.map: the latter allocates in unoptimised builds, and this is a hot path)
                var s = scratch
                if let probs { s = probs + (b * heads + h) * tokens * tokens }
                Gemm.sgemm(
                    transB: true, m: tokens, n: tokens, k: headDim, alpha: scale,
                    a: q, lda: stride, b: k, ldb: stride, c: s, rowInvariant: false)
                softmaxRows(s, rows: tokens, cols: tokens)
                Gemm.sgemm(
                    m: tokens, n: headDim, k: tokens, a: s, b: v, ldb: stride,
                    c: out + b * tokens * d + h * headDim, ldc: d, rowInvariant: false)
            }
        }
    }

    /// Row-wise stable softmax in place.
    @inline(__always)
    public static func softmaxRows(_ s: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        ft_softmax_rows(s, rows, cols)
    }

    /// Attention backward from the saved `probs` ([B, H, T, T] from `forward`) and `qkv`: writes dqkv
    /// (same fused layout) given dout ([B·T, D]). Per (b, h): dV = Pᵀ·dO, dP = dO·Vᵀ,
    /// dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = scale·dS·K, dK = scale·dSᵀ·Q. `scratch` holds T×T floats.
    public static func backward(
        dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
        batch: Int, tokens: Int, heads: Int, headDim: Int,
        dqkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        let d = heads * headDim
        let stride = 3 * d
        let scale = 1 / Float(headDim).squareRoot()
        for b in 0..<batch {
            let base = qkv + b * tokens * stride
            let dbase = dqkv + b * tokens * stride
            let dO = dout + b * tokens * d
            for h in 0..<heads {
                let q = base + h * headDim
                let k = base + d + h * headDim
                let v = base + 2 * d + h * headDim
                let dq = dbase + h * headDim
                let dk = dbase + d + h * headDim
                let dv = dbase + 2 * d + h * headDim
                let p = probs + (b * heads + h) * tokens * tokens
                let dO_h = dO + h * headDim
                // dV = Pᵀ dO
                Gemm.sgemm(
                    transA: true, m: tokens, n: headDim, k: tokens, a: p, b: dO_h, ldb: d, c: dv,
                    ldc: stride)
                // dP = dO Vᵀ
                Gemm.sgemm(
                    transB: true, m: tokens, n: tokens, k: headDim, a: dO_h, lda: d, b: v, ldb: stride,
                    c: scratch, rowInvariant: false)
                for r in 0..<tokens {
                    let pr = p + r * tokens
                    let gr = scratch + r * tokens
                    let s = FastMath.dot(pr, gr, tokens)
                    for j in 0..<tokens { gr[j] = pr[j] * (gr[j] - s) }
                }
                Gemm.sgemm(
                    m: tokens, n: headDim, k: tokens, alpha: scale, a: scratch, b: k, ldb: stride, c: dq,
                    ldc: stride, rowInvariant: false)
                Gemm.sgemm(
                    transA: true, m: tokens, n: headDim, k: tokens, alpha: scale, a: scratch, b: q,
                    ldb: stride, c: dk, ldc: stride)
            }
        }
    }
}
