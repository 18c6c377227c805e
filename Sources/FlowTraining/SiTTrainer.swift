import FlowModels
import FlowTensor

/// Training forward and backward of a SiT predictor or FlowTurbo refiner (llm.c style).
///
/// `forward` computes exactly the function of `SiTEvaluator` (same kernels, same order) while
/// saving every activation; `backward` takes dL/d(output) and accumulates dL/dθ into `grads`
/// (an `SiTWeights` of the same config used as gradient storage; its `pos` is unused since the
/// position embedding is fixed). For a refiner, the "+ v" skip has no parameters, and neither x
/// nor v receive gradients (they are data / frozen-predictor outputs).
public final class SiTTrainer {
    public let config: SiTConfig
    public let weights: SiTWeights
    public let grads: SiTWeights
    public let maxRows: Int
    let a: SiTActivations
    let freqs: [Float]
    let labels: UnsafeMutablePointer<Int32>
    var rows = 0

    /// A trainer for up to `maxRows` rows per step over `weights` (updated in place by the optimizer).
    public init(weights: SiTWeights, maxRows: Int) {
        config = weights.config
        self.weights = weights
        grads = SiTWeights(config: weights.config)
        grads.pos.fill(0)
        self.maxRows = maxRows
        a = SiTActivations(weights.config, batch: maxRows)
        freqs = Embeddings.timestepFrequencies(dim: weights.config.frequencyEmbeddingSize)
        labels = .allocate(capacity: max(maxRows, 1))
        labels.initialize(repeating: 0, count: max(maxRows, 1))
    }

    deinit { labels.deallocate() }

    /// The trainable (parameter, gradient) pairs under their official names (the fixed `pos_embed` excluded).
    public var parameters: [(name: String, param: Buffer, grad: Buffer)] {
        zip(weights.named, grads.named).compactMap { w, g in
            w.name == "pos_embed" ? nil : (w.name, w.buffer, g.buffer)
        }
    }

    /// Sets every gradient to zero.
    public func zeroGrads() { for p in parameters { p.grad.fill(0) } }

    /// Forward with a time and label per row, saving activations: out = model(x, [v], t, y).
    public func forward(
        x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: UnsafePointer<Float>,
        labels l: UnsafePointer<Int32>, rows: Int, out: UnsafeMutablePointer<Float>
    ) {
        precondition(rows <= maxRows, "SiTTrainer: \(rows) rows > maxRows \(maxRows)")
        precondition(!config.isRefiner || v != nil, "SiTTrainer: a refiner needs v")
        self.rows = rows
        labels.update(from: l, count: rows)
        conditioning(t: t, rows: rows)
        tokenPath(x: x, v: v, rows: rows, out: out)
    }

    /// The conditioning path, saving pre-activations: mods = adaLN(SiLU(t_emb + y_emb)).
    func conditioning(t: UnsafePointer<Float>, rows: Int) {
        let c = config
        let w = weights
        let d = c.hiddenSize
        let fdim = c.frequencyEmbeddingSize
        let mw = c.modulationWidth
        Embeddings.timestep(t, rows: rows, freqs: freqs, dim: fdim, out: a.freq.ptr)
        Gemm.linear(a.freq.ptr, rows: rows, inF: fdim, weight: w.t0W.ptr, bias: w.t0B.ptr, outF: d, out: a.tPre.ptr)
        Activations.silu(a.tPre.ptr, count: rows * d, out: a.tAct.ptr)
        Gemm.linear(a.tAct.ptr, rows: rows, inF: d, weight: w.t2W.ptr, bias: w.t2B.ptr, outF: d, out: a.cPre.ptr)
        for r in 0..<rows {
            let e = w.yTable.ptr + Int(labels[r]) * d
            let o = a.cPre.ptr + r * d
            for i in 0..<d { o[i] += e[i] }
        }
        Activations.silu(a.cPre.ptr, count: rows * d, out: a.cAct.ptr)
        let m = a.mods.ptr
        for (l, b) in w.blocks.enumerated() {
            for r in 0..<rows { (m + r * mw + l * 6 * d).update(from: b.adaB.ptr, count: 6 * d) }
            Gemm.sgemm(
                transB: true, m: rows, n: 6 * d, k: d, a: a.cAct.ptr, b: b.adaW.ptr, beta: 1, c: m + l * 6 * d, ldc: mw)
        }
        let fo = c.depth * 6 * d
        for r in 0..<rows { (m + r * mw + fo).update(from: w.finalAdaB.ptr, count: 2 * d) }
        Gemm.sgemm(
            transB: true, m: rows, n: 2 * d, k: d, a: a.cAct.ptr, b: w.finalAdaW.ptr, beta: 1, c: m + fo, ldc: mw)
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
            a.patches.ptr, rows: r, inF: c.embedChannels * p * p, weight: w.xW.ptr, bias: w.xB.ptr, outF: d, out: x0)
        for b in 0..<rows {
            let xb = x0 + b * t * d
            for i in 0..<(t * d) { xb[i] += w.pos.ptr[i] }
        }
        for (l, bw) in w.blocks.enumerated() {
            let s = a.blocks[l]
            let mb = m + l * 6 * d
            split(rows) { e, ro, nb, mo in
                LayerNorm.forward(s.xIn.ptr + e, rows: nb * t, dim: d, out: s.xhat1.ptr + e, rstd: s.rstd1.ptr + ro)
                Modulation.modulate(
                    s.xhat1.ptr + e, batch: nb, tokens: t, dim: d, shift: mb + mo, scale: mb + d + mo, modStride: mw,
                    out: s.h1.ptr + e)
            }
            Gemm.linear(s.h1.ptr, rows: r, inF: d, weight: bw.qkvW.ptr, bias: bw.qkvB.ptr, outF: 3 * d, out: s.qkv.ptr)
            let hd = c.numHeads * t * t
            Parallel.ranges(rows, align: 1) { lo, hi in
                Attention.forward(
                    qkv: s.qkv.ptr + lo * t * 3 * d, batch: hi - lo, tokens: t, heads: c.numHeads, headDim: c.headDim,
                    out: s.att.ptr + lo * t * d, scratch: a.scratch.ptr + (lo == 0 ? 0 : t * t),
                    probs: s.probs.ptr + lo * hd)
            }
            Gemm.linear(s.att.ptr, rows: r, inF: d, weight: bw.projW.ptr, bias: bw.projB.ptr, outF: d, out: s.proj.ptr)
            split(rows) { e, ro, nb, mo in
                (s.xMid.ptr + e).update(from: s.xIn.ptr + e, count: nb * t * d)
                Modulation.gatedResidual(
                    s.xMid.ptr + e, s.proj.ptr + e, batch: nb, tokens: t, dim: d, gate: mb + 2 * d + mo, modStride: mw)
                LayerNorm.forward(s.xMid.ptr + e, rows: nb * t, dim: d, out: s.xhat2.ptr + e, rstd: s.rstd2.ptr + ro)
                Modulation.modulate(
                    s.xhat2.ptr + e, batch: nb, tokens: t, dim: d, shift: mb + 3 * d + mo, scale: mb + 4 * d + mo,
                    modStride: mw, out: s.h2.ptr + e)
            }
            Gemm.linear(
                s.h2.ptr, rows: r, inF: d, weight: bw.fc1W.ptr, bias: bw.fc1B.ptr, outF: c.mlpHidden, out: s.pre.ptr)
            Parallel.ranges(r * c.mlpHidden) { lo, hi in
                Activations.gelu(s.pre.ptr + lo, count: hi - lo, out: s.act.ptr + lo)
            }
            Gemm.linear(
                s.act.ptr, rows: r, inF: c.mlpHidden, weight: bw.fc2W.ptr, bias: bw.fc2B.ptr, outF: d, out: s.fc2.ptr)
            let next = l + 1 < c.depth ? a.blocks[l + 1].xIn.ptr : a.xOut.ptr
            split(rows) { e, _, nb, mo in
                (next + e).update(from: s.xMid.ptr + e, count: nb * t * d)
                Modulation.gatedResidual(
                    next + e, s.fc2.ptr + e, batch: nb, tokens: t, dim: d, gate: mb + 5 * d + mo, modStride: mw)
            }
        }
        let mf = m + c.depth * 6 * d
        split(rows) { e, ro, nb, mo in
            LayerNorm.forward(a.xOut.ptr + e, rows: nb * t, dim: d, out: a.xhatF.ptr + e, rstd: a.rstdF.ptr + ro)
            Modulation.modulate(
                a.xhatF.ptr + e, batch: nb, tokens: t, dim: d, shift: mf + mo, scale: mf + d + mo, modStride: mw,
                out: a.hF.ptr + e)
        }
        let po = p * p * c.outChannels
        Gemm.linear(a.hF.ptr, rows: r, inF: d, weight: w.finalW.ptr, bias: w.finalB.ptr, outF: po, out: a.y.ptr)
        Patches.unpatchify(
            a.y.ptr, outChannels: c.outChannels, keep: cin, batch: rows, size: c.inputSize, patch: p,
            addend: c.isRefiner ? v : nil, out: out)
    }

    /// Backward of the last `forward`: accumulates dL/dθ into `grads` given dout = dL/d(out) ([rows, C, H, W]).
    /// Call `zeroGrads()` first unless accumulating over micro-batches.
    public func backward(dout: UnsafePointer<Float>) {
        let c = config
        let w = weights
        let g = grads
        let rows = self.rows
        let d = c.hiddenSize
        let t = c.tokens
        let p = c.patchSize
        let r = rows * t
        let mw = c.modulationWidth
        let hid = c.mlpHidden
        let m = a.mods.ptr
        let dm = a.dMods.ptr
        dm.update(repeating: 0, count: rows * mw)
        // final layer
        Patches.unpatchifyBackward(
            dout: dout, outChannels: c.outChannels, keep: c.inChannels, batch: rows,
            size: c.inputSize, patch: p, dy: a.dY.ptr)
        let po = p * p * c.outChannels
        Gemm.linearBackward(
            dout: a.dY.ptr, x: a.hF.ptr, rows: r, inF: d, weight: w.finalW.ptr, outF: po,
            dx: a.dH.ptr, dW: g.finalW.ptr, db: g.finalB.ptr)
        let mf = m + c.depth * 6 * d
        let dmf = dm + c.depth * 6 * d
        split(rows) { e, ro, nb, mo in
            Modulation.modulateBackward(
                dout: a.dH.ptr + e, x: a.xhatF.ptr + e, batch: nb, tokens: t, dim: d, scale: mf + d + mo,
                modStride: mw, dx: a.dH.ptr + e, dshift: dmf + mo, dscale: dmf + d + mo)
            LayerNorm.backward(
                dxhat: a.dH.ptr + e, xhat: a.xhatF.ptr + e, rstd: a.rstdF.ptr + ro, rows: nb * t, dim: d,
                dx: a.dX.ptr + e,
                accumulate: false)
        }
        // blocks, last to first; dX holds dL/d(block output)
        for l in stride(from: c.depth - 1, through: 0, by: -1) {
            let s = a.blocks[l]
            let bw = w.blocks[l]
            let bg = g.blocks[l]
            let mb = m + l * 6 * d
            let dmb = dm + l * 6 * d
            // x_out = x_mid + g2 · fc2(gelu(fc1(modulate(LN(x_mid)))))
            split(rows) { e, _, nb, mo in
                Modulation.gatedResidualBackward(
                    dx: a.dX.ptr + e, y: s.fc2.ptr + e, batch: nb, tokens: t, dim: d, gate: mb + 5 * d + mo,
                    modStride: mw, dy: a.dH.ptr + e, dgate: dmb + 5 * d + mo)
            }
            Gemm.linearBackward(
                dout: a.dH.ptr, x: s.act.ptr, rows: r, inF: hid, weight: bw.fc2W.ptr, outF: d,
                dx: a.dHid.ptr, dW: bg.fc2W.ptr, db: bg.fc2B.ptr)
            Parallel.ranges(r * hid) { lo, hi in
                Activations.geluBackward(x: s.pre.ptr + lo, dout: a.dHid.ptr + lo, count: hi - lo, dx: a.dHid.ptr + lo)
            }
            Gemm.linearBackward(
                dout: a.dHid.ptr, x: s.h2.ptr, rows: r, inF: d, weight: bw.fc1W.ptr, outF: hid,
                dx: a.dH.ptr, dW: bg.fc1W.ptr, db: bg.fc1B.ptr)
            split(rows) { e, ro, nb, mo in
                Modulation.modulateBackward(
                    dout: a.dH.ptr + e, x: s.xhat2.ptr + e, batch: nb, tokens: t, dim: d, scale: mb + 4 * d + mo,
                    modStride: mw, dx: a.dH.ptr + e, dshift: dmb + 3 * d + mo, dscale: dmb + 4 * d + mo)
                LayerNorm.backward(
                    dxhat: a.dH.ptr + e, xhat: s.xhat2.ptr + e, rstd: s.rstd2.ptr + ro, rows: nb * t, dim: d,
                    dx: a.dX.ptr + e, accumulate: true)
            }
            // x_mid = x_in + g1 · proj(attn(qkv(modulate(LN(x_in)))))
            split(rows) { e, _, nb, mo in
                Modulation.gatedResidualBackward(
                    dx: a.dX.ptr + e, y: s.proj.ptr + e, batch: nb, tokens: t, dim: d, gate: mb + 2 * d + mo,
                    modStride: mw, dy: a.dH.ptr + e, dgate: dmb + 2 * d + mo)
            }
            Gemm.linearBackward(
                dout: a.dH.ptr, x: s.att.ptr, rows: r, inF: d, weight: bw.projW.ptr, outF: d,
                dx: a.dAtt.ptr, dW: bg.projW.ptr, db: bg.projB.ptr)
            let hd = c.numHeads * t * t
            Parallel.ranges(rows, align: 1) { lo, hi in
                Attention.backward(
                    dout: a.dAtt.ptr + lo * t * d, qkv: s.qkv.ptr + lo * t * 3 * d, probs: s.probs.ptr + lo * hd,
                    batch: hi - lo, tokens: t, heads: c.numHeads, headDim: c.headDim, dqkv: a.dQKV.ptr + lo * t * 3 * d,
                    scratch: a.scratch.ptr + (lo == 0 ? 0 : t * t))
            }
            Gemm.linearBackward(
                dout: a.dQKV.ptr, x: s.h1.ptr, rows: r, inF: d, weight: bw.qkvW.ptr, outF: 3 * d,
                dx: a.dH.ptr, dW: bg.qkvW.ptr, db: bg.qkvB.ptr)
            split(rows) { e, ro, nb, mo in
                Modulation.modulateBackward(
                    dout: a.dH.ptr + e, x: s.xhat1.ptr + e, batch: nb, tokens: t, dim: d, scale: mb + d + mo,
                    modStride: mw, dx: a.dH.ptr + e, dshift: dmb + mo, dscale: dmb + d + mo)
                LayerNorm.backward(
                    dxhat: a.dH.ptr + e, xhat: s.xhat1.ptr + e, rstd: s.rstd1.ptr + ro, rows: nb * t, dim: d,
                    dx: a.dX.ptr + e, accumulate: true)
            }
        }
        // patch embedding (x and v get no gradient)
        Gemm.linearBackward(
            dout: a.dX.ptr, x: a.patches.ptr, rows: r, inF: c.embedChannels * p * p, weight: w.xW.ptr, outF: d,
            dx: nil, dW: g.xW.ptr, db: g.xB.ptr)
        conditioningBackward(rows: rows)
    }

    /// Backward of the conditioning path from dMods: adaLN linears, SiLU, label table, timestep MLP.
    func conditioningBackward(rows: Int) {
        let c = config
        let w = weights
        let g = grads
        let d = c.hiddenSize
        let mw = c.modulationWidth
        let fdim = c.frequencyEmbeddingSize
        let dm = a.dMods.ptr
        var first = true
        func ada(_ off: Int, _ width: Int, _ W: Buffer, _ dW: Buffer, _ db: Buffer) {
            // mods[:, off..<off+width] = cAct · Wᵀ + b
            Gemm.sgemm(transA: true, m: width, n: d, k: rows, a: dm + off, lda: mw, b: a.cAct.ptr, beta: 1, c: dW.ptr)
            for r in 0..<rows {
                let gr = dm + r * mw + off
                for j in 0..<width { db.ptr[j] += gr[j] }
            }
            Gemm.sgemm(m: rows, n: d, k: width, a: dm + off, lda: mw, b: W.ptr, beta: first ? 0 : 1, c: a.dCAct.ptr)
            first = false
        }
        for (l, b) in w.blocks.enumerated() { ada(l * 6 * d, 6 * d, b.adaW, g.blocks[l].adaW, g.blocks[l].adaB) }
        ada(c.depth * 6 * d, 2 * d, w.finalAdaW, g.finalAdaW, g.finalAdaB)
        Activations.siluBackward(x: a.cPre.ptr, dout: a.dCAct.ptr, count: rows * d, dx: a.dC.ptr)
        Embeddings.tableBackward(dout: a.dC.ptr, labels: labels, rows: rows, dim: d, dTable: g.yTable.ptr)
        Gemm.linearBackward(
            dout: a.dC.ptr, x: a.tAct.ptr, rows: rows, inF: d, weight: w.t2W.ptr, outF: d,
            dx: a.dTAct.ptr, dW: g.t2W.ptr, db: g.t2B.ptr)
        Activations.siluBackward(x: a.tPre.ptr, dout: a.dTAct.ptr, count: rows * d, dx: a.dTAct.ptr)
        Gemm.linearBackward(
            dout: a.dTAct.ptr, x: a.freq.ptr, rows: rows, inF: fdim, weight: w.t0W.ptr, outF: d,
            dx: nil, dW: g.t0W.ptr, db: g.t0B.ptr)
    }

    /// Runs `body(elementOffset, rowOffset, batchItems, modOffset)` on batch-item ranges in parallel: every
    /// per-token kernel touches only its own items' rows and modulation rows, so the split is bit-identical.
    @inline(__always)
    func split(_ rows: Int, _ body: (Int, Int, Int, Int) -> Void) {
        let t = config.tokens
        let d = config.hiddenSize
        let mw = config.modulationWidth
        Parallel.ranges(rows, align: 1) { b0, b1 in body(b0 * t * d, b0 * t, b1 - b0, b0 * mw) }
    }

    /// Mean-squared-error loss mean((out − target)²) over `count` floats; writes dL/d(out) into `dout`.
    public static func mseLoss(
        out: UnsafePointer<Float>, target: UnsafePointer<Float>, count n: Int,
        dout: UnsafeMutablePointer<Float>
    ) -> Double {
        var s = 0.0
        let k = 2 / Float(n)
        for i in 0..<n {
            let e = out[i] - target[i]
            s += Double(e * e)
            dout[i] = k * e
        }
        return s / Double(n)
    }

    /// Forward FLOPs of one row through the trainer (token path + conditioning).
    public var flopsPerRow: Double { config.flopsPerSample + config.conditioningFlopsPerRow }
}
