import FlowModels
import FlowTensor

/// Training forward and backward of a PixArt-α predictor or refiner (llm.c style), mirroring `SiTTrainer`.
///
/// `forward` computes the function of `PixArtEvaluator` (same kernels, same order) while saving every activation;
/// `backward` takes dL/d(output) and accumulates dL/dθ into `grads` (a `PixArtWeights` of the same config used as
/// gradient storage). Not trained, as in the official code: the fixed `pos_embed` and the null caption
/// `y_embedding` (both buffers); caption-dropped rows (`force_drop_ids`) read `y_embedding` as their caption.
/// Inputs x, v and the caption features are data and receive no gradient. Runs single-threaded outside BLAS.
public final class PixArtTrainer {
    public let config: PixArtConfig
    public let weights: PixArtWeights
    public let grads: PixArtWeights
    public let maxRows: Int
    public let maxCaptionLength: Int
    let a: PixArtActivations
    let freqs: [Float]
    var rows = 0
    var captionTokens = 0

    /// A trainer for up to `maxRows` rows per step with captions of up to `maxCaptionLength` tokens (at least L_max).
    public init(weights: PixArtWeights, maxRows: Int, maxCaptionLength: Int = 0) {
        config = weights.config
        self.weights = weights
        grads = PixArtWeights(config: weights.config)
        grads.pos.fill(0)
        self.maxRows = maxRows
        self.maxCaptionLength = max(maxCaptionLength, weights.config.captionTokens)
        a = PixArtActivations(weights.config, batch: maxRows, maxCaptionLength: self.maxCaptionLength)
        freqs = Embeddings.timestepFrequencies(dim: weights.config.frequencyEmbeddingSize)
    }

    /// Names of the buffers that are not trained.
    static let frozen: Set<String> = ["pos_embed", "y_embedder.y_embedding"]

    /// The trainable (parameter, gradient) pairs under their official names.
    public var parameters: [(name: String, param: Buffer, grad: Buffer)] {
        zip(weights.named, grads.named).compactMap { w, g in
            PixArtTrainer.frozen.contains(w.name) ? nil : (w.name, w.buffer, g.buffer)
        }
    }

    /// Sets every gradient to zero.
    public func zeroGrads() {
        for p in parameters { p.grad.fill(0) }
    }

    /// Forward with a time per row, saving activations. Rows `0 ..< captionRows` read `length` caption tokens
    /// (row-major (rows, L, C), `mask` non-zero = real token, nil = all real); later rows take the null caption.
    public func forward(
        x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: UnsafePointer<Float>,
        captions: UnsafePointer<Float>?, mask: UnsafePointer<Int32>?, length: Int, captionRows: Int,
        rows: Int, out: UnsafeMutablePointer<Float>
    ) {
        precondition(rows <= maxRows, "PixArtTrainer: \(rows) rows > maxRows \(maxRows)")
        precondition(length <= maxCaptionLength, "PixArtTrainer: captions of \(length) tokens > \(maxCaptionLength)")
        precondition(!config.isRefiner || v != nil, "PixArtTrainer: a refiner needs v")
        self.rows = rows
        timeConditioning(t: t, rows: rows)
        captionPath(captions: captions, mask: mask, length: length, captionRows: captionRows, rows: rows)
        tokenPath(x: x, v: v, rows: rows, out: out)
    }

    /// t path: tEmb = t_embedder(t); t0 = t_block(tEmb) = Linear(SiLU(tEmb)); mods = tables + (t0 | tEmb).
    func timeConditioning(t: UnsafePointer<Float>, rows: Int) {
        let c = config
        let w = weights
        let d = c.hiddenSize
        let fdim = c.frequencyEmbeddingSize
        let mw = c.modulationWidth
        Embeddings.timestep(t, rows: rows, freqs: freqs, dim: fdim, out: a.freq.ptr)
        Gemm.linear(a.freq.ptr, rows: rows, inF: fdim, weight: w.t0W.ptr, bias: w.t0B.ptr, outF: d, out: a.tPre.ptr)
        Activations.silu(a.tPre.ptr, count: rows * d, out: a.tAct.ptr)
        Gemm.linear(a.tAct.ptr, rows: rows, inF: d, weight: w.t2W.ptr, bias: w.t2B.ptr, outF: d, out: a.tEmb.ptr)
        Activations.silu(a.tEmb.ptr, count: rows * d, out: a.tSilu.ptr)
        Gemm.linear(
            a.tSilu.ptr, rows: rows, inF: d, weight: w.tBlockW.ptr, bias: w.tBlockB.ptr, outF: 6 * d,
            out: a.t0.ptr)
        for l in 0..<c.depth {
            AdaLNSingle.forward(
                t0: a.t0.ptr, t0Stride: 6 * d, table: w.blocks[l].table.ptr, rows: rows, width: 6 * d,
                out: a.mods.ptr + l * 6 * d, outStride: mw)
        }
        let mf = a.mods.ptr + c.depth * 6 * d
        AdaLNSingle.forward(
            t0: a.tEmb.ptr, t0Stride: d, table: w.finalTable.ptr, rows: rows, width: d, out: mf,
            outStride: mw)
        AdaLNSingle.forward(
            t0: a.tEmb.ptr, t0Stride: d, table: w.finalTable.ptr + d, rows: rows, width: d, out: mf + d,
            outStride: mw)
    }

    /// Caption path over the packed real tokens: y = fc2(GELU(fc1(caption))), then every block's K/V.
    func captionPath(
        captions: UnsafePointer<Float>?, mask: UnsafePointer<Int32>?, length: Int, captionRows: Int,
        rows: Int
    ) {
        let c = config
        let w = weights
        let cc = c.captionChannels
        let d = c.hiddenSize
        var n = 0
        for r in 0..<rows {
            a.offsets[r] = n
            if r < captionRows, let captions {
                for j in 0..<length where mask == nil || mask![r * length + j] != 0 {
                    (a.capFeat.ptr + n * cc).update(from: captions + (r * length + j) * cc, count: cc)
                    n += 1
                }
            } else {
                (a.capFeat.ptr + n * cc).update(from: w.nullCaption.ptr, count: c.captionTokens * cc)
                n += c.captionTokens
            }
            a.lengths[r] = n - a.offsets[r]
        }
        captionTokens = n
        Gemm.linear(a.capFeat.ptr, rows: n, inF: cc, weight: w.yFc1W.ptr, bias: w.yFc1B.ptr, outF: d, out: a.capPre.ptr)
        Activations.gelu(a.capPre.ptr, count: n * d, out: a.capAct.ptr)
        Gemm.linear(a.capAct.ptr, rows: n, inF: d, weight: w.yFc2W.ptr, bias: w.yFc2B.ptr, outF: d, out: a.capEmb.ptr)
        for l in 0..<c.depth {
            let b = w.blocks[l]
            Gemm.linear(
                a.capEmb.ptr, rows: n, inF: d, weight: b.kvW.ptr, bias: b.kvB.ptr, outF: 2 * d,
                out: a.blocks[l].kv.ptr)
        }
    }

    /// The token path, saving every block's activations.
    func tokenPath(x xin: UnsafePointer<Float>, v: UnsafePointer<Float>?, rows: Int, out: UnsafeMutablePointer<Float>) {
        let c = config
        let w = weights
        let d = c.hiddenSize
        let t = c.tokens
        let p = c.patchSize
        let r = rows * t
        let mw = c.modulationWidth
        let cin = c.inChannels
        let m = a.mods.ptr
        Patches.patchify(
            xin, channelsA: cin, c.isRefiner ? v : nil, channelsB: c.isRefiner ? cin : 0,
            batch: rows, size: c.inputSize, patch: p, out: a.patches.ptr)
        let x0 = a.blocks.first?.xIn.ptr ?? a.xOut.ptr
        Gemm.linear(
            a.patches.ptr, rows: r, inF: c.embedChannels * p * p, weight: w.xW.ptr, bias: w.xB.ptr, outF: d,
            out: x0)
        for b in 0..<rows {
            let xb = x0 + b * t * d
            for i in 0..<(t * d) { xb[i] += w.pos.ptr[i] }
        }
        for l in 0..<c.depth {
            let bw = w.blocks[l]
            let s = a.blocks[l]
            let mb = m + l * 6 * d
            // xA = xIn + gate_msa · proj(attn(qkv(t2i_modulate(LN(xIn)))))
            LayerNorm.forward(s.xIn.ptr, rows: r, dim: d, out: s.xhat1.ptr, rstd: s.rstd1.ptr)
            Modulation.modulate(
                s.xhat1.ptr, batch: rows, tokens: t, dim: d, shift: mb, scale: mb + d, modStride: mw,
                out: s.h1.ptr)
            Gemm.linear(s.h1.ptr, rows: r, inF: d, weight: bw.qkvW.ptr, bias: bw.qkvB.ptr, outF: 3 * d, out: s.qkv.ptr)
            Attention.forward(
                qkv: s.qkv.ptr, batch: rows, tokens: t, heads: c.numHeads, headDim: c.headDim,
                out: s.att.ptr, scratch: a.scratch.ptr, probs: s.probs.ptr)
            Gemm.linear(s.att.ptr, rows: r, inF: d, weight: bw.projW.ptr, bias: bw.projB.ptr, outF: d, out: s.proj.ptr)
            s.xA.ptr.update(from: s.xIn.ptr, count: r * d)
            Modulation.gatedResidual(
                s.xA.ptr, s.proj.ptr, batch: rows, tokens: t, dim: d, gate: mb + 2 * d,
                modStride: mw)
            // xMid = xA + proj(cross_attn(q_linear(xA), kv))
            Gemm.linear(s.xA.ptr, rows: r, inF: d, weight: bw.qW.ptr, bias: bw.qB.ptr, outF: d, out: s.q.ptr)
            CrossAttention.forward(
                q: s.q.ptr, kv: s.kv.ptr, offsets: a.offsets, lengths: a.lengths, batch: rows,
                tokens: t, heads: c.numHeads, headDim: c.headDim, out: s.catt.ptr,
                scratch: a.scratch.ptr, probs: s.cprobs.ptr)
            Gemm.linear(
                s.catt.ptr, rows: r, inF: d, weight: bw.crossW.ptr, bias: bw.crossB.ptr, outF: d,
                out: s.cproj.ptr)
            for i in 0..<(r * d) { s.xMid.ptr[i] = s.xA.ptr[i] + s.cproj.ptr[i] }
            // xOut = xMid + gate_mlp · fc2(GELU(fc1(t2i_modulate(LN(xMid)))))
            LayerNorm.forward(s.xMid.ptr, rows: r, dim: d, out: s.xhat2.ptr, rstd: s.rstd2.ptr)
            Modulation.modulate(
                s.xhat2.ptr, batch: rows, tokens: t, dim: d, shift: mb + 3 * d, scale: mb + 4 * d,
                modStride: mw, out: s.h2.ptr)
            Gemm.linear(
                s.h2.ptr, rows: r, inF: d, weight: bw.fc1W.ptr, bias: bw.fc1B.ptr, outF: c.mlpHidden,
                out: s.pre.ptr)
            Activations.gelu(s.pre.ptr, count: r * c.mlpHidden, out: s.act.ptr)
            Gemm.linear(
                s.act.ptr, rows: r, inF: c.mlpHidden, weight: bw.fc2W.ptr, bias: bw.fc2B.ptr, outF: d,
                out: s.fc2.ptr)
            let next = l + 1 < c.depth ? a.blocks[l + 1].xIn.ptr : a.xOut.ptr
            next.update(from: s.xMid.ptr, count: r * d)
            Modulation.gatedResidual(next, s.fc2.ptr, batch: rows, tokens: t, dim: d, gate: mb + 5 * d, modStride: mw)
        }
        let mf = m + c.depth * 6 * d
        LayerNorm.forward(a.xOut.ptr, rows: r, dim: d, out: a.xhatF.ptr, rstd: a.rstdF.ptr)
        Modulation.modulate(
            a.xhatF.ptr, batch: rows, tokens: t, dim: d, shift: mf, scale: mf + d, modStride: mw,
            out: a.hF.ptr)
        let po = p * p * c.outChannels
        Gemm.linear(a.hF.ptr, rows: r, inF: d, weight: w.finalW.ptr, bias: w.finalB.ptr, outF: po, out: a.y.ptr)
        Patches.unpatchify(
            a.y.ptr, outChannels: c.outChannels, keep: cin, batch: rows, size: c.inputSize, patch: p,
            addend: c.isRefiner ? v : nil, out: out)
    }

    /// Forward FLOPs of one row through the trainer (token path at L_max + conditioning).
    public var flopsPerRow: Double { config.flopsPerSample + config.conditioningFlopsPerRow }
}
