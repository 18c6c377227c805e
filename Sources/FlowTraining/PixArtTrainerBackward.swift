import FlowModels
import FlowTensor

extension PixArtTrainer {
    /// Backward of the last `forward`: accumulates dL/dθ into `grads` given dout = dL/d(out) ([rows, C, H, W]).
    /// Call `zeroGrads()` first unless accumulating over micro-batches.
    public func backward(dout: UnsafePointer<Float>) {
        let c = config
        let w = weights
        let g = grads
        let rows = self.rows
        let n = captionTokens
        let d = c.hiddenSize
        let t = c.tokens
        let p = c.patchSize
        let r = rows * t
        let mw = c.modulationWidth
        let hid = c.mlpHidden
        let m = a.mods.ptr
        let dm = a.dMods.ptr
        dm.update(repeating: 0, count: rows * mw)
        a.dCapEmb.ptr.update(repeating: 0, count: n * d)
        // final layer: y = linear(t2i_modulate(LN(xOut), shift_f, scale_f))
        Patches.unpatchifyBackward(
            dout: dout, outChannels: c.outChannels, keep: c.inChannels, batch: rows,
            size: c.inputSize, patch: p, dy: a.dY.ptr)
        let po = p * p * c.outChannels
        Gemm.linearBackward(
            dout: a.dY.ptr, x: a.hF.ptr, rows: r, inF: d, weight: w.finalW.ptr, outF: po,
            dx: a.dH.ptr, dW: g.finalW.ptr, db: g.finalB.ptr)
        let mf = m + c.depth * 6 * d
        let dmf = dm + c.depth * 6 * d
        Modulation.modulateBackward(
            dout: a.dH.ptr, x: a.xhatF.ptr, batch: rows, tokens: t, dim: d, scale: mf + d,
            modStride: mw, dx: a.dH.ptr, dshift: dmf, dscale: dmf + d)
        LayerNorm.backward(
            dxhat: a.dH.ptr, xhat: a.xhatF.ptr, rstd: a.rstdF.ptr, rows: r, dim: d, dx: a.dX.ptr,
            accumulate: false)
        // blocks, last to first; dX holds dL/d(block output)
        for l in stride(from: c.depth - 1, through: 0, by: -1) {
            let s = a.blocks[l]
            let bw = w.blocks[l]
            let bg = g.blocks[l]
            let mb = m + l * 6 * d
            let dmb = dm + l * 6 * d
            // MLP: xOut = xMid + gate_mlp · fc2(GELU(fc1(h2)))
            Modulation.gatedResidualBackward(
                dx: a.dX.ptr, y: s.fc2.ptr, batch: rows, tokens: t, dim: d,
                gate: mb + 5 * d,
                modStride: mw, dy: a.dH.ptr, dgate: dmb + 5 * d)
            Gemm.linearBackward(
                dout: a.dH.ptr, x: s.act.ptr, rows: r, inF: hid, weight: bw.fc2W.ptr, outF: d,
                dx: a.dHid.ptr, dW: bg.fc2W.ptr, db: bg.fc2B.ptr)
            Activations.geluBackward(x: s.pre.ptr, dout: a.dHid.ptr, count: r * hid, dx: a.dHid.ptr)
            Gemm.linearBackward(
                dout: a.dHid.ptr, x: s.h2.ptr, rows: r, inF: d, weight: bw.fc1W.ptr, outF: hid,
                dx: a.dH.ptr, dW: bg.fc1W.ptr, db: bg.fc1B.ptr)
            Modulation.modulateBackward(
                dout: a.dH.ptr, x: s.xhat2.ptr, batch: rows, tokens: t, dim: d,
                scale: mb + 4 * d,
                modStride: mw, dx: a.dH.ptr, dshift: dmb + 3 * d, dscale: dmb + 4 * d)
            LayerNorm.backward(
                dxhat: a.dH.ptr, xhat: s.xhat2.ptr, rstd: s.rstd2.ptr, rows: r, dim: d, dx: a.dX.ptr,
                accumulate: true)
            // cross-attention: xMid = xA + proj(cross(q_linear(xA), kv)); dX is now dL/dxMid
            Gemm.linearBackward(
                dout: a.dX.ptr, x: s.catt.ptr, rows: r, inF: d, weight: bw.crossW.ptr, outF: d,
                dx: a.dAtt.ptr, dW: bg.crossW.ptr, db: bg.crossB.ptr)
            CrossAttention.backward(
                dout: a.dAtt.ptr, q: s.q.ptr, kv: s.kv.ptr, probs: s.cprobs.ptr, offsets: a.offsets,
                lengths: a.lengths, batch: rows, tokens: t, heads: c.numHeads, headDim: c.headDim,
                dq: a.dQ.ptr, dkv: a.dKV.ptr, scratch: a.scratch.ptr)
            Gemm.linearBackward(
                dout: a.dQ.ptr, x: s.xA.ptr, rows: r, inF: d, weight: bw.qW.ptr, outF: d,
                dx: a.dX.ptr, accumulateDx: true, dW: bg.qW.ptr, db: bg.qB.ptr)
            Gemm.linearBackward(
                dout: a.dKV.ptr, x: a.capEmb.ptr, rows: n, inF: d, weight: bw.kvW.ptr, outF: 2 * d,
                dx: a.dCapEmb.ptr, accumulateDx: true, dW: bg.kvW.ptr, db: bg.kvB.ptr)
            // self-attention: xA = xIn + gate_msa · proj(attn(qkv(h1))); dX is now dL/dxA
            Modulation.gatedResidualBackward(
                dx: a.dX.ptr, y: s.proj.ptr, batch: rows, tokens: t, dim: d,
                gate: mb + 2 * d,
                modStride: mw, dy: a.dH.ptr, dgate: dmb + 2 * d)
            Gemm.linearBackward(
                dout: a.dH.ptr, x: s.att.ptr, rows: r, inF: d, weight: bw.projW.ptr, outF: d,
                dx: a.dAtt.ptr, dW: bg.projW.ptr, db: bg.projB.ptr)
            Attention.backward(
                dout: a.dAtt.ptr, qkv: s.qkv.ptr, probs: s.probs.ptr, batch: rows, tokens: t,
                heads: c.numHeads, headDim: c.headDim, dqkv: a.dQKV.ptr, scratch: a.scratch.ptr)
            Gemm.linearBackward(
                dout: a.dQKV.ptr, x: s.h1.ptr, rows: r, inF: d, weight: bw.qkvW.ptr, outF: 3 * d,
                dx: a.dH.ptr, dW: bg.qkvW.ptr, db: bg.qkvB.ptr)
            Modulation.modulateBackward(
                dout: a.dH.ptr, x: s.xhat1.ptr, batch: rows, tokens: t, dim: d, scale: mb + d,
                modStride: mw, dx: a.dH.ptr, dshift: dmb, dscale: dmb + d)
            LayerNorm.backward(
                dxhat: a.dH.ptr, xhat: s.xhat1.ptr, rstd: s.rstd1.ptr, rows: r, dim: d, dx: a.dX.ptr,
                accumulate: true)
        }
        // patch embedding (x and v get no gradient)
        Gemm.linearBackward(
            dout: a.dX.ptr, x: a.patches.ptr, rows: r, inF: c.embedChannels * p * p, weight: w.xW.ptr,
            outF: d, dx: nil, dW: g.xW.ptr, db: g.xB.ptr)
        captionBackward(tokens: n)
        timeBackward(rows: rows)
    }

    /// Caption MLP backward from dCapEmb (the caption features are data: no input gradient).
    func captionBackward(tokens n: Int) {
        let c = config
        let w = weights
        let g = grads
        let d = c.hiddenSize
        let cc = c.captionChannels
        Gemm.linearBackward(
            dout: a.dCapEmb.ptr, x: a.capAct.ptr, rows: n, inF: d, weight: w.yFc2W.ptr, outF: d,
            dx: a.dCapAct.ptr, dW: g.yFc2W.ptr, db: g.yFc2B.ptr)
        Activations.geluBackward(x: a.capPre.ptr, dout: a.dCapAct.ptr, count: n * d, dx: a.dCapAct.ptr)
        Gemm.linearBackward(
            dout: a.dCapAct.ptr, x: a.capFeat.ptr, rows: n, inF: cc, weight: w.yFc1W.ptr, outF: d,
            dx: nil, dW: g.yFc1W.ptr, db: g.yFc1B.ptr)
    }

    /// t path backward from dMods: scale_shift_tables, t_block, the final layer's use of t_emb, timestep MLP.
    func timeBackward(rows: Int) {
        let c = config
        let w = weights
        let g = grads
        let d = c.hiddenSize
        let mw = c.modulationWidth
        let fdim = c.frequencyEmbeddingSize
        let dm = a.dMods.ptr
        a.dT0.ptr.update(repeating: 0, count: rows * 6 * d)
        a.dTEmb.ptr.update(repeating: 0, count: rows * d)
        for l in 0..<c.depth {
            AdaLNSingle.backward(
                dout: dm + l * 6 * d, doutStride: mw, rows: rows, width: 6 * d,
                dtable: g.blocks[l].table.ptr, dt0: a.dT0.ptr, dt0Stride: 6 * d)
        }
        let dmf = dm + c.depth * 6 * d
        AdaLNSingle.backward(
            dout: dmf, doutStride: mw, rows: rows, width: d, dtable: g.finalTable.ptr,
            dt0: a.dTEmb.ptr, dt0Stride: d)
        AdaLNSingle.backward(
            dout: dmf + d, doutStride: mw, rows: rows, width: d, dtable: g.finalTable.ptr + d,
            dt0: a.dTEmb.ptr, dt0Stride: d)
        Gemm.linearBackward(
            dout: a.dT0.ptr, x: a.tSilu.ptr, rows: rows, inF: d, weight: w.tBlockW.ptr, outF: 6 * d,
            dx: a.dTSilu.ptr, dW: g.tBlockW.ptr, db: g.tBlockB.ptr)
        Activations.siluBackward(x: a.tEmb.ptr, dout: a.dTSilu.ptr, count: rows * d, dx: a.dTSilu.ptr)
        for i in 0..<(rows * d) { a.dTEmb.ptr[i] += a.dTSilu.ptr[i] }
        Gemm.linearBackward(
            dout: a.dTEmb.ptr, x: a.tAct.ptr, rows: rows, inF: d, weight: w.t2W.ptr, outF: d,
            dx: a.dTAct.ptr, dW: g.t2W.ptr, db: g.t2B.ptr)
        Activations.siluBackward(x: a.tPre.ptr, dout: a.dTAct.ptr, count: rows * d, dx: a.dTAct.ptr)
        Gemm.linearBackward(
            dout: a.dTAct.ptr, x: a.freq.ptr, rows: rows, inF: fdim, weight: w.t0W.ptr, outF: d,
            dx: nil, dW: g.t0W.ptr, db: g.t0B.ptr)
    }
}
