import FlowTensor

/// The BERT encoder forward pass on packed sequences: the real tokens of several prompts stacked as rows
/// ([R, D], R = Σ lengths, no padding rows), so every product is one GEMM over all rows and attention runs per
/// sequence over its own tokens only. This equals HuggingFace's padded batch with an additive −∞ mask on padded
/// keys at every real position (padding adds nothing after the softmax), and a prompt's result does not depend
/// on the other prompts of the batch.
///
/// Post-LN BERT layer: x = LN(x + Wo·Attn(x)), x = LN(x + W2·GELU(W1·x)); embeddings LN(word + position + type 0).
struct MiniLMForward {
    let config: MiniLMConfig
    let weights: MiniLMWeights
    let maxRows: Int
    // Activations, allocated once for up to `maxRows` rows (shapes in floats):
    var x: [Float]  // [R, D] residual stream; the last hidden states after `run`
    var qkv: [Float]  // [R, 3D]
    var ctx: [Float]  // [R, D] attention output (heads concatenated)
    var tmp: [Float]  // [R, D] sub-layer output + residual, before LayerNorm
    var inter: [Float]  // [R, I] GELU(W1·x)
    var scores: [Float]  // [T, T] one head's attention matrix, T = longest sequence

    init(config: MiniLMConfig, weights: MiniLMWeights, maxRows: Int) {
        self.config = config
        self.weights = weights
        self.maxRows = maxRows
        let d = config.hidden
        x = [Float](repeating: 0, count: maxRows * d)
        qkv = [Float](repeating: 0, count: maxRows * 3 * d)
        ctx = [Float](repeating: 0, count: maxRows * d)
        tmp = [Float](repeating: 0, count: maxRows * d)
        inter = [Float](repeating: 0, count: maxRows * config.intermediate)
        let t = min(maxRows, config.maxPositions)
        scores = [Float](repeating: 0, count: t * t)
    }

    /// Runs the encoder on `sequences` (Σ counts ≤ maxRows, each 1…maxPositions ids, ids < vocabSize, checked
    /// by the caller); the last hidden states are left in `x`, packed in order.
    mutating func run(_ sequences: ArraySlice<[Int32]>) {
        let c = config
        let d = c.hidden
        let rows = sequences.reduce(0) { $0 + $1.count }
        precondition(rows <= maxRows)
        embed(sequences)
        for l in weights.layers {
            // qkv [R, 3D] = x·Wqkvᵀ + b
            Gemm.linear(x, rows: rows, inF: d, weight: l.qkvW, bias: l.qkvB, outF: 3 * d, out: &qkv)
            attention(sequences)
            // x = LN(x + ctx·Woᵀ + bo)
            Gemm.linear(ctx, rows: rows, inF: d, weight: l.attnOutW, bias: l.attnOutB, outF: d, out: &tmp)
            addAndNorm(rows: rows, weight: l.ln1W, bias: l.ln1B)
            // inter [R, I] = GELU(x·W1ᵀ + b1); x = LN(x + inter·W2ᵀ + b2)
            Gemm.linear(x, rows: rows, inF: d, weight: l.fc1W, bias: l.fc1B, outF: c.intermediate, out: &inter)
            GeluErf.forward(&inter, count: rows * c.intermediate)
            Gemm.linear(inter, rows: rows, inF: c.intermediate, weight: l.fc2W, bias: l.fc2B, outF: d, out: &tmp)
            addAndNorm(rows: rows, weight: l.ln2W, bias: l.ln2B)
        }
    }

    /// x[r] = LN(word[id] + position[t] + tokenType[0]) for token t of each sequence.
    mutating func embed(_ sequences: ArraySlice<[Int32]>) {
        let d = config.hidden
        var r = 0
        weights.wordEmbeddings.withUnsafeBufferPointer { word in
            weights.positionEmbeddings.withUnsafeBufferPointer { pos in
                for seq in sequences {
                    for (t, id) in seq.enumerated() {
                        let w = word.baseAddress! + Int(id) * d
                        let p = pos.baseAddress! + t * d
                        for i in 0..<d { x[r * d + i] = w[i] + p[i] + weights.tokenTypeEmbeddings[i] }
                        r += 1
                    }
                }
            }
        }
        x.withUnsafeMutableBufferPointer { xb in
            LayerNormAffine.forward(
                xb.baseAddress!, rows: r, dim: d, weight: weights.embLNW, bias: weights.embLNB,
                eps: config.layerNormEps, out: xb.baseAddress!)
        }
    }

    /// ctx = softmax(q·kᵀ/√hd)·v per sequence and head (scale 1/√32 for MiniLM), over the sequence's
    /// own tokens.
    mutating func attention(_ sequences: ArraySlice<[Int32]>) {
        let c = config
        let d = c.hidden
        var offset = 0
        qkv.withUnsafeBufferPointer { q in
            ctx.withUnsafeMutableBufferPointer { o in
                scores.withUnsafeMutableBufferPointer { s in
                    for seq in sequences {
                        Attention.forward(
                            qkv: q.baseAddress! + offset * 3 * d, batch: 1, tokens: seq.count,
                            heads: c.heads, headDim: c.headDim, out: o.baseAddress! + offset * d,
                            scratch: s.baseAddress!)
                        offset += seq.count
                    }
                }
            }
        }
    }

    /// x = LN(tmp + x) with the affine LayerNorm of the sub-layer.
    mutating func addAndNorm(rows: Int, weight: [Float], bias: [Float]) {
        let n = rows * config.hidden
        for i in 0..<n { tmp[i] += x[i] }
        LayerNormAffine.forward(
            tmp, rows: rows, dim: config.hidden, weight: weight, bias: bias,
            eps: config.layerNormEps, out: &x)
    }
}
