/// Multi-head cross-attention from image tokens to caption tokens (PixArt-α `MultiHeadCrossAttention`).
///
/// Queries are [B·T, D] (heads concatenated, head h at columns h·hd..<(h+1)·hd). Keys and values come from
/// the caption: `kv` rows hold [k | v] (2·D floats, `kv_linear` output as `.view(…, 2, H, hd)` reads it) for the
/// *valid* caption tokens only, packed: batch item b owns rows offsets[b] ..< offsets[b] + lengths[b]. That is the
/// official semantics (padding tokens are removed by `masked_select` and a block-diagonal mask keeps each
/// image attending to its own caption), so no −∞ masking is needed. An item with no valid token gets 0.
public enum CrossAttention {
    /// Scratch floats needed by `forward`/`backward`: one T×L score matrix for the longest caption.
    public static func scratchCount(tokens: Int, maxKeys: Int) -> Int { max(tokens * maxKeys, 1) }

    /// Floats of saved probabilities for the backward pass: Σ_b H·T·lengths[b] (at most B·H·T·L_max).
    public static func probsCount(batch: Int, tokens: Int, heads: Int, maxKeys: Int) -> Int {
        max(batch * heads * tokens * maxKeys, 1)
    }

    /// out[b, t, h·hd + j] = Σ_s softmax_s(q·k_s/√hd) v[s, j] over the valid tokens s of item b.
    /// q: [B·T, D]; kv: packed [Σ lengths, 2·D]; out: [B·T, D]. When `probs` is non-nil the probabilities
    /// are saved there item after item, [H, T, lengths[b]] each, for `backward`.
    public static func forward(
        q: UnsafePointer<Float>, kv: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
        lengths: UnsafePointer<Int>, batch: Int, tokens: Int, heads: Int, headDim: Int,
        out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        probs: UnsafeMutablePointer<Float>? = nil
    ) {
        let d = heads * headDim
        let kvStride = 2 * d
        let scale = 1 / Float(headDim).squareRoot()
        var saved = 0
        for b in 0..<batch {
            let n = lengths[b]
            let ob = out + b * tokens * d
            if n == 0 {
                ob.update(repeating: 0, count: tokens * d)
                continue
            }
            let qb = q + b * tokens * d
            let kb = kv + offsets[b] * kvStride
            for h in 0..<heads {
                var s = scratch
                if let probs { s = probs + saved + h * tokens * n }
                // S[T×n] = scale · Q_h K_hᵀ
                Gemm.sgemm(
                    transB: true, m: tokens, n: n, k: headDim, alpha: scale,
                    a: qb + h * headDim, lda: d, b: kb + h * headDim, ldb: kvStride, c: s)
                Attention.softmaxRows(s, rows: tokens, cols: n)
                // O_h[T×hd] = P V_h
                Gemm.sgemm(
                    m: tokens, n: headDim, k: n, a: s, b: kb + d + h * headDim, ldb: kvStride,
                    c: ob + h * headDim, ldc: d)
            }
            saved += heads * tokens * n
        }
    }

    /// Backward from the saved `probs`: dq ([B·T, D], overwritten) and dkv (packed like kv, overwritten) given
    /// dout ([B·T, D]). Per (b, h): dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
    /// dQ = scale·dS·K, dK = scale·dSᵀ·Q. `scratch` holds T×L_max floats.
    public static func backward(
        dout: UnsafePointer<Float>, q: UnsafePointer<Float>, kv: UnsafePointer<Float>,
        probs: UnsafePointer<Float>, offsets: UnsafePointer<Int>, lengths: UnsafePointer<Int>,
        batch: Int, tokens: Int, heads: Int, headDim: Int,
        dq: UnsafeMutablePointer<Float>, dkv: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>
    ) {
        let d = heads * headDim
        let kvStride = 2 * d
        let scale = 1 / Float(headDim).squareRoot()
        var saved = 0
        for b in 0..<batch {
            let n = lengths[b]
            let dqb = dq + b * tokens * d
            if n == 0 {
                dqb.update(repeating: 0, count: tokens * d)
                continue
            }
            let qb = q + b * tokens * d
            let kb = kv + offsets[b] * kvStride
            let dkb = dkv + offsets[b] * kvStride
            let dO = dout + b * tokens * d
            for h in 0..<heads {
                let p = probs + saved + h * tokens * n
                let dO_h = dO + h * headDim
                // dV[n×hd] = Pᵀ dO_h
                Gemm.sgemm(
                    transA: true, m: n, n: headDim, k: tokens, a: p, b: dO_h, ldb: d,
                    c: dkb + d + h * headDim, ldc: kvStride)
                // dP[T×n] = dO_h V_hᵀ
                Gemm.sgemm(
                    transB: true, m: tokens, n: n, k: headDim, a: dO_h, lda: d,
                    b: kb + d + h * headDim, ldb: kvStride, c: scratch)
                for r in 0..<tokens {
                    let pr = p + r * n
                    let gr = scratch + r * n
                    let s = FastMath.dot(pr, gr, n)
                    for j in 0..<n { gr[j] = pr[j] * (gr[j] - s) }
                }
                // dQ_h[T×hd] = scale · dS K_h ; dK_h[n×hd] = scale · dSᵀ Q_h
                Gemm.sgemm(
                    m: tokens, n: headDim, k: n, alpha: scale, a: scratch, b: kb + h * headDim, ldb: kvStride,
                    c: dqb + h * headDim, ldc: d)
                Gemm.sgemm(
                    transA: true, m: n, n: headDim, k: tokens, alpha: scale, a: scratch, b: qb + h * headDim,
                    ldb: d, c: dkb + h * headDim, ldc: kvStride)
            }
            saved += heads * tokens * n
        }
    }
}
