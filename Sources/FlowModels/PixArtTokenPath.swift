import FlowTensor

extension PixArtEvaluator {
    /// The token path given modulation rows `modStride` apart (0: one row shared by the whole batch).
    func tokenPath(
        x xin: UnsafePointer<Float>, v: UnsafePointer<Float>?, mods m: UnsafePointer<Float>, modStride: Int,
        rows: Int, out: UnsafeMutablePointer<Float>
    ) {
        precondition(captionsSet, "PixArtEvaluator: setCaptions (or setLabels) must come before evaluate")
        let s = c.sampleSize
        var start = 0
        while start < rows {
            let n = min(chunkRows, rows - start)
            var vc: UnsafePointer<Float>? = nil
            if let v { vc = v + start * s }
            tokenChunk(
                x: xin + start * s, v: vc, mods: m + start * modStride, modStride: modStride, first: start,
                rows: n, out: out + start * s)
            start += n
        }
    }

    /// One chunk of at most `chunkRows` samples starting at batch row `first` (for its captions' K/V).
    func tokenChunk(
        x xin: UnsafePointer<Float>, v: UnsafePointer<Float>?, mods m: UnsafePointer<Float>,
        modStride mw: Int, first: Int, rows: Int, out: UnsafeMutablePointer<Float>
    ) {
        let d = c.hiddenSize
        let t = c.tokens
        let p = c.patchSize
        let r = rows * t
        let cin = c.inChannels
        // x: [r, D] = PatchEmbed(x | concat(x, v)) + pos_embed
        Patches.patchify(
            xin, channelsA: cin, c.isRefiner ? v : nil, channelsB: c.isRefiner ? cin : 0,
            batch: rows, size: c.inputSize, patch: p, out: patches.ptr)
        Gemm.linear(
            patches.ptr, rows: r, inF: c.embedChannels * p * p, weight: w.xW.ptr, bias: w.xB.ptr, outF: d,
            out: x.ptr)
        for b in 0..<rows {
            let xb = x.ptr + b * t * d
            for i in 0..<(t * d) { xb[i] += w.pos.ptr[i] }
        }
        for l in 0..<c.depth {
            let bw = w.blocks[l]
            let mb = m + l * 6 * d
            // x += gate_msa · attn(t2i_modulate(LN(x), shift_msa, scale_msa))
            LayerNorm.forwardModulated(
                x.ptr, batch: rows, tokens: t, dim: d, shift: mb, scale: mb + d, modStride: mw,
                out: h.ptr)
            Gemm.linear(h.ptr, rows: r, inF: d, weight: bw.qkvW.ptr, bias: bw.qkvB.ptr, outF: 3 * d, out: qkv.ptr)
            Attention.forward(
                qkv: qkv.ptr, batch: rows, tokens: t, heads: c.numHeads, headDim: c.headDim,
                out: attn.ptr, scratch: scores.ptr)
            Gemm.linear(attn.ptr, rows: r, inF: d, weight: bw.projW.ptr, bias: bw.projB.ptr, outF: d, out: h.ptr)
            Modulation.gatedResidual(x.ptr, h.ptr, batch: rows, tokens: t, dim: d, gate: mb + 2 * d, modStride: mw)
            // x += cross_attn(x, caption)   (no norm, no gate)
            Gemm.linear(x.ptr, rows: r, inF: d, weight: bw.qW.ptr, bias: bw.qB.ptr, outF: d, out: qx.ptr)
            CrossAttention.forward(
                q: qx.ptr, kv: kv.ptr + l * kvStride, offsets: offsets + first,
                lengths: lengths + first, batch: rows, tokens: t, heads: c.numHeads,
                headDim: c.headDim, out: attn.ptr, scratch: crossScratch.ptr)
            Gemm.linear(attn.ptr, rows: r, inF: d, weight: bw.crossW.ptr, bias: bw.crossB.ptr, outF: d, out: h.ptr)
            for i in 0..<(r * d) { x.ptr[i] += h.ptr[i] }
            // x += gate_mlp · mlp(t2i_modulate(LN(x), shift_mlp, scale_mlp))
            LayerNorm.forwardModulated(
                x.ptr, batch: rows, tokens: t, dim: d, shift: mb + 3 * d, scale: mb + 4 * d,
                modStride: mw, out: h.ptr)
            Gemm.linear(h.ptr, rows: r, inF: d, weight: bw.fc1W.ptr, bias: bw.fc1B.ptr, outF: c.mlpHidden, out: mlp.ptr)
            Activations.gelu(mlp.ptr, count: r * c.mlpHidden)
            Gemm.linear(mlp.ptr, rows: r, inF: c.mlpHidden, weight: bw.fc2W.ptr, bias: bw.fc2B.ptr, outF: d, out: h.ptr)
            Modulation.gatedResidual(x.ptr, h.ptr, batch: rows, tokens: t, dim: d, gate: mb + 5 * d, modStride: mw)
        }
        // T2IFinalLayer: t2i_modulate(LN(x), table[0] + t_emb, table[1] + t_emb) → linear → unpatchify
        let mf = m + c.depth * 6 * d
        LayerNorm.forwardModulated(
            x.ptr, batch: rows, tokens: t, dim: d, shift: mf, scale: mf + d, modStride: mw,
            out: h.ptr)
        let po = p * p * c.outChannels
        Gemm.linear(h.ptr, rows: r, inF: d, weight: w.finalW.ptr, bias: w.finalB.ptr, outF: po, out: y.ptr)
        Patches.unpatchify(
            y.ptr, outChannels: c.outChannels, keep: cin, batch: rows, size: c.inputSize, patch: p,
            addend: c.isRefiner && addsPrevious ? v : nil, out: out)
    }
}
