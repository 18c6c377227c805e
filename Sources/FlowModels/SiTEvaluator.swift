import FlowTensor

/// A preallocated SiT forward for up to `maxRows` rows, with the (t, y) conditioning cached per time point.
///
/// Everything that depends only on (t, y) — the timestep embedding, c = t_emb + y_emb and every
/// block's adaLN modulation vectors — is computed once per `setLabels` for each time point given
/// at creation (if the cache fits in `cacheLimitBytes`), so `evaluate(timeIndex:)` runs only the
/// token path. No heap allocation after init.
public final class SiTEvaluator: VelocityEvaluator {
    /// Largest conditioning cache kept (larger configurations recompute per call).
    public static var cacheLimitBytes = 512 << 20
    /// Tokens processed per pass of the token path: a batch is cut into chunks of whole samples so the
    /// activations of a chunk stay in cache (the GEMMs are still ≥ 512 rows tall).
    public static var chunkTokens = 512
    /// Samples per chunk (the workspace is sized for one chunk, not the whole batch).
    public let chunkRows: Int

    let model: SiTModel
    let c: SiTConfig
    let w: SiTWeights
    public let maxRows: Int
    let times: [Float]
    var rows = 0
    /// For refiners: add the previous velocity to the network output (v̂ = r + v). False gives the raw offset r.
    public var addsPrevious = true
    let labels: UnsafeMutablePointer<Int32>
    let tRow: Buffer  // per-row time for the general path
    let patches, x, h, qkv, attn, mlp, y, scores: Buffer
    let freq, cond, tmp: Buffer
    let mods: Buffer  // [rows, modulationWidth] for the general path
    let cache: Buffer?  // [times, maxRows, modulationWidth]
    let freqs: [Float]

    init(model: SiTModel, maxRows: Int, times: [Float]) {
        self.model = model
        c = model.config
        w = model.weights
        self.maxRows = maxRows
        self.times = times
        chunkRows = min(maxRows, max(1, SiTEvaluator.chunkTokens / c.tokens))
        let t = c.tokens
        let d = c.hiddenSize
        let r = chunkRows * t
        labels = .allocate(capacity: max(maxRows, 1))
        labels.initialize(repeating: 0, count: max(maxRows, 1))
        tRow = Buffer(count: maxRows)
        patches = Buffer(count: r * c.embedChannels * c.patchSize * c.patchSize)
        x = Buffer(count: r * d)
        h = Buffer(count: r * d)
        qkv = Buffer(count: r * 3 * d)
        attn = Buffer(count: r * d)
        mlp = Buffer(count: r * c.mlpHidden)
        y = Buffer(count: r * c.patchSize * c.patchSize * c.outChannels)
        scores = Buffer(count: Attention.scratchCount(tokens: t))
        freq = Buffer(count: maxRows * c.frequencyEmbeddingSize)
        cond = Buffer(count: maxRows * d)
        tmp = Buffer(count: maxRows * d)
        mods = Buffer(count: maxRows * c.modulationWidth)
        let cacheFloats = times.count * maxRows * c.modulationWidth
        cache = !times.isEmpty && cacheFloats * 4 <= SiTEvaluator.cacheLimitBytes ? Buffer(count: cacheFloats) : nil
        freqs = Embeddings.timestepFrequencies(dim: c.frequencyEmbeddingSize)
    }

    deinit { labels.deallocate() }

    public func setLabels(_ l: UnsafePointer<Int32>, rows: Int) {
        precondition(rows <= maxRows, "SiTEvaluator: \(rows) rows > maxRows \(maxRows)")
        self.rows = rows
        labels.update(from: l, count: rows)
        guard let cache else { return }
        for k in 0..<times.count {
            let t = times[k]
            tRow.ptr.update(repeating: t, count: rows)
            conditioning(t: tRow.ptr, labels: labels, rows: rows, into: cache.ptr + k * maxRows * c.modulationWidth)
        }
    }

    public func evaluate(
        x: UnsafePointer<Float>, v: UnsafePointer<Float>?, timeIndex: Int, out: UnsafeMutablePointer<Float>
    ) {
        if let cache {
            tokenPath(x: x, v: v, mods: cache.ptr + timeIndex * maxRows * c.modulationWidth, rows: rows, out: out)
        } else {
            evaluate(x: x, v: v, t: times[timeIndex], out: out)
        }
    }

    public func evaluate(x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: Float, out: UnsafeMutablePointer<Float>)
    {
        tRow.ptr.update(repeating: t, count: rows)
        conditioning(t: tRow.ptr, labels: labels, rows: rows, into: mods.ptr)
        tokenPath(x: x, v: v, mods: mods.ptr, rows: rows, out: out)
    }

    /// Full forward with a time per row (used by `flowturbo forward` and tests).
    public func forward(
        x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: UnsafePointer<Float>,
        labels l: UnsafePointer<Int32>, rows: Int, out: UnsafeMutablePointer<Float>
    ) {
        precondition(rows <= maxRows)
        self.rows = rows
        labels.update(from: l, count: rows)
        conditioning(t: t, labels: labels, rows: rows, into: mods.ptr)
        tokenPath(x: x, v: v, mods: mods.ptr, rows: rows, out: out)
    }

    /// mods[r] = [block adaLN (6D) × depth | final adaLN (2D)] of SiLU(t_emb(t_r) + y_emb(y_r)).
    func conditioning(
        t: UnsafePointer<Float>, labels: UnsafePointer<Int32>, rows: Int, into m: UnsafeMutablePointer<Float>
    ) {
        let d = c.hiddenSize
        let fdim = c.frequencyEmbeddingSize
        let mw = c.modulationWidth
        Embeddings.timestep(t, rows: rows, freqs: freqs, dim: fdim, out: freq.ptr)
        Gemm.linear(freq.ptr, rows: rows, inF: fdim, weight: w.t0W.ptr, bias: w.t0B.ptr, outF: d, out: tmp.ptr)
        Activations.silu(tmp.ptr, count: rows * d)
        Gemm.linear(tmp.ptr, rows: rows, inF: d, weight: w.t2W.ptr, bias: w.t2B.ptr, outF: d, out: cond.ptr)
        for r in 0..<rows {
            let e = w.yTable.ptr + Int(labels[r]) * d
            let o = cond.ptr + r * d
            for i in 0..<d { o[i] += e[i] }
        }
        Activations.silu(cond.ptr, count: rows * d)
        for l in 0..<c.depth {  // index loops: `for … in array` allocates in unoptimised builds
            let b = w.blocks[l]
            linearStrided(
                cond.ptr, rows: rows, inF: d, weight: b.adaW.ptr, bias: b.adaB.ptr, outF: 6 * d, out: m + l * 6 * d,
                ldc: mw)
        }
        linearStrided(
            cond.ptr, rows: rows, inF: d, weight: w.finalAdaW.ptr, bias: w.finalAdaB.ptr, outF: 2 * d,
            out: m + c.depth * 6 * d, ldc: mw)
    }

    @inline(__always)
    func linearStrided(
        _ a: UnsafePointer<Float>, rows: Int, inF: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        outF: Int, out: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for r in 0..<rows { (out + r * ldc).update(from: bias, count: outF) }
        Gemm.sgemm(transB: true, m: rows, n: outF, k: inF, a: a, b: weight, beta: 1, c: out, ldc: ldc)
    }

    /// The token path given precomputed modulation rows.
    func tokenPath(
        x xin: UnsafePointer<Float>, v: UnsafePointer<Float>?, mods m: UnsafePointer<Float>, rows: Int,
        out: UnsafeMutablePointer<Float>
    ) {
        let s = c.sampleSize
        let mw = c.modulationWidth
        var start = 0
        while start < rows {
            let n = min(chunkRows, rows - start)
            var vc: UnsafePointer<Float>? = nil
            if let v { vc = v + start * s }
            tokenChunk(x: xin + start * s, v: vc, mods: m + start * mw, rows: n, out: out + start * s)
            start += n
        }
    }

    /// The token path for one chunk of at most `chunkRows` samples.
    func tokenChunk(
        x xin: UnsafePointer<Float>, v: UnsafePointer<Float>?, mods m: UnsafePointer<Float>, rows: Int,
        out: UnsafeMutablePointer<Float>
    ) {
        let d = c.hiddenSize
        let t = c.tokens
        let p = c.patchSize
        let r = rows * t
        let mw = c.modulationWidth
        let cin = c.inChannels
        Patches.patchify(
            xin, channelsA: cin, c.isRefiner ? v : nil, channelsB: c.isRefiner ? cin : 0,
            batch: rows, size: c.inputSize, patch: p, out: patches.ptr)
        Gemm.linear(
            patches.ptr, rows: r, inF: c.embedChannels * p * p, weight: w.xW.ptr, bias: w.xB.ptr, outF: d, out: x.ptr)
        for b in 0..<rows {
            let xb = x.ptr + b * t * d
            for i in 0..<(t * d) { xb[i] += w.pos.ptr[i] }
        }
        for l in 0..<c.depth {
            let bw = w.blocks[l]
            let mb = m + l * 6 * d
            LayerNorm.forwardModulated(
                x.ptr, batch: rows, tokens: t, dim: d, shift: mb, scale: mb + d, modStride: mw, out: h.ptr)
            Gemm.linear(h.ptr, rows: r, inF: d, weight: bw.qkvW.ptr, bias: bw.qkvB.ptr, outF: 3 * d, out: qkv.ptr)
            Attention.forward(
                qkv: qkv.ptr, batch: rows, tokens: t, heads: c.numHeads, headDim: c.headDim,
                out: attn.ptr, scratch: scores.ptr)
            Gemm.linear(attn.ptr, rows: r, inF: d, weight: bw.projW.ptr, bias: bw.projB.ptr, outF: d, out: h.ptr)
            Modulation.gatedResidual(x.ptr, h.ptr, batch: rows, tokens: t, dim: d, gate: mb + 2 * d, modStride: mw)
            LayerNorm.forwardModulated(
                x.ptr, batch: rows, tokens: t, dim: d, shift: mb + 3 * d, scale: mb + 4 * d, modStride: mw, out: h.ptr)
            Gemm.linear(h.ptr, rows: r, inF: d, weight: bw.fc1W.ptr, bias: bw.fc1B.ptr, outF: c.mlpHidden, out: mlp.ptr)
            Activations.gelu(mlp.ptr, count: r * c.mlpHidden)
            Gemm.linear(mlp.ptr, rows: r, inF: c.mlpHidden, weight: bw.fc2W.ptr, bias: bw.fc2B.ptr, outF: d, out: h.ptr)
            Modulation.gatedResidual(x.ptr, h.ptr, batch: rows, tokens: t, dim: d, gate: mb + 5 * d, modStride: mw)
        }
        let mf = m + c.depth * 6 * d
        LayerNorm.forwardModulated(
            x.ptr, batch: rows, tokens: t, dim: d, shift: mf, scale: mf + d, modStride: mw, out: h.ptr)
        let po = p * p * c.outChannels
        Gemm.linear(h.ptr, rows: r, inF: d, weight: w.finalW.ptr, bias: w.finalB.ptr, outF: po, out: y.ptr)
        Patches.unpatchify(
            y.ptr, outChannels: c.outChannels, keep: cin, batch: rows, size: c.inputSize, patch: p,
            addend: c.isRefiner && addsPrevious ? v : nil, out: out)
    }
}
