import FlowTensor

/// A preallocated PixArt-α forward for up to `maxRows` rows with captions of up to `maxCaptionLength` tokens.
///
/// Work that depends only on t (timestep MLP, `t_block`, every block's `scale_shift_table + t0` and the final
/// layer's shift/scale) is the same for every row at one time, so it is computed once at creation for each
/// time point given (one row per time, broadcast with a zero row stride). Work that depends only on the
/// caption (the `y_proj` MLP and every block's cross-attention K/V, over the valid tokens) is computed once
/// per `setCaptions`. `evaluate(timeIndex:)` then runs only the token path, with no heap allocation.
public final class PixArtEvaluator: CaptionConditionedEvaluator {
    /// Tokens processed per pass of the token path (a batch is cut into chunks of whole samples).
    public static var chunkTokens = 512
    /// Samples per chunk.
    public let chunkRows: Int
    public let maxRows: Int
    /// Longest caption (tokens) `setCaptions` accepts; at least L_max (the null caption's length).
    public let maxCaptionLength: Int
    /// For refiners: add the previous velocity to the network output (v̂ = r + v). False gives the raw offset r.
    public var addsPrevious = true

    let model: PixArtModel
    let c: PixArtConfig
    let w: PixArtWeights
    let times: [Float]
    var rows = 0
    var captionsSet = false
    let offsets, lengths: UnsafeMutablePointer<Int>  // per row: first packed caption token, valid tokens
    let capFeat, capHid, capEmb, kv: Buffer  // packed valid caption tokens; kv: [depth][tokens, 2D]
    let kvStride: Int  // floats of one block's K/V for all rows
    let patches, x, h, qkv, attn, mlp, y, scores, qx, crossScratch: Buffer
    let freq, temb, tmp, t0, mods: Buffer  // per-row time conditioning (general path)
    let timeCache: Buffer  // [times, modulationWidth]
    let freqs: [Float]

    init(model: PixArtModel, maxRows: Int, times: [Float], maxCaptionLength: Int? = nil) {
        self.model = model
        c = model.config
        w = model.weights
        self.maxRows = maxRows
        self.times = times
        self.maxCaptionLength = max(maxCaptionLength ?? 0, c.captionTokens)
        chunkRows = min(max(maxRows, 1), max(1, PixArtEvaluator.chunkTokens / c.tokens))
        let t = c.tokens
        let d = c.hiddenSize
        let r = chunkRows * t
        let rowsCap = max(maxRows, 1)
        let capTokens = rowsCap * self.maxCaptionLength
        offsets = .allocate(capacity: rowsCap)
        offsets.initialize(repeating: 0, count: rowsCap)
        lengths = .allocate(capacity: rowsCap)
        lengths.initialize(repeating: 0, count: rowsCap)
        capFeat = Buffer(count: capTokens * c.captionChannels)
        capHid = Buffer(count: capTokens * d)
        capEmb = Buffer(count: capTokens * d)
        kvStride = capTokens * 2 * d
        kv = Buffer(count: max(c.depth, 1) * kvStride)
        patches = Buffer(count: r * c.embedChannels * c.patchSize * c.patchSize)
        x = Buffer(count: r * d)
        h = Buffer(count: r * d)
        qkv = Buffer(count: r * 3 * d)
        attn = Buffer(count: r * d)
        mlp = Buffer(count: r * c.mlpHidden)
        y = Buffer(count: r * c.patchSize * c.patchSize * c.outChannels)
        scores = Buffer(count: Attention.scratchCount(tokens: t))
        qx = Buffer(count: r * d)
        crossScratch = Buffer(count: CrossAttention.scratchCount(tokens: t, maxKeys: self.maxCaptionLength))
        freq = Buffer(count: rowsCap * c.frequencyEmbeddingSize)
        temb = Buffer(count: rowsCap * d)
        tmp = Buffer(count: rowsCap * d)
        t0 = Buffer(count: rowsCap * 6 * d)
        mods = Buffer(count: rowsCap * c.modulationWidth)
        timeCache = Buffer(count: max(times.count, 1) * c.modulationWidth)
        freqs = Embeddings.timestepFrequencies(dim: c.frequencyEmbeddingSize)
        for k in 0..<times.count {
            tmp.ptr[0] = times[k]
            conditioning(t: UnsafePointer(tmp.ptr), rows: 1, into: timeCache.ptr + k * c.modulationWidth)
        }
    }

    deinit {
        offsets.deallocate()
        lengths.deallocate()
    }

    /// Sets the batch's captions: row r < `captionRows` reads `length` token features (captionChannels each) at
    /// `features + r·length·C` with `mask[r·length + j] != 0` marking real tokens (nil = all real); rows
    /// `captionRows ..< rows` take the null caption (`y_embedding`, every token real: PixArt's guidance input).
    /// Runs the caption MLP and every block's K/V projection once for the batch.
    public func setCaptions(
        features: UnsafePointer<Float>?, mask: UnsafePointer<Int32>?, length: Int,
        captionRows: Int, rows: Int
    ) {
        precondition(rows <= maxRows, "PixArtEvaluator: \(rows) rows > maxRows \(maxRows)")
        precondition(
            captionRows <= rows && (captionRows == 0 || (features != nil && length <= maxCaptionLength)),
            "PixArtEvaluator: captions longer than \(maxCaptionLength) tokens or missing")
        let cc = c.captionChannels
        let d = c.hiddenSize
        self.rows = rows
        var n = 0
        for r in 0..<rows {
            offsets[r] = n
            if r < captionRows, let features {
                for j in 0..<length where mask == nil || mask![r * length + j] != 0 {
                    (capFeat.ptr + n * cc).update(from: features + (r * length + j) * cc, count: cc)
                    n += 1
                }
            } else {
                (capFeat.ptr + n * cc).update(from: w.nullCaption.ptr, count: c.captionTokens * cc)
                n += c.captionTokens
            }
            lengths[r] = n - offsets[r]
        }
        // y_proj: fc2(GELU_tanh(fc1(caption)))   [n, C_caption] → [n, D] → [n, D]
        Gemm.linear(capFeat.ptr, rows: n, inF: cc, weight: w.yFc1W.ptr, bias: w.yFc1B.ptr, outF: d, out: capHid.ptr)
        Activations.gelu(capHid.ptr, count: n * d)
        Gemm.linear(capHid.ptr, rows: n, inF: d, weight: w.yFc2W.ptr, bias: w.yFc2B.ptr, outF: d, out: capEmb.ptr)
        for l in 0..<c.depth {
            let b = w.blocks[l]
            Gemm.linear(
                capEmb.ptr, rows: n, inF: d, weight: b.kvW.ptr, bias: b.kvB.ptr, outF: 2 * d,
                out: kv.ptr + l * kvStride)
        }
        captionsSet = true
    }

    /// Labels carry no information for a caption-conditioned model: only the row count is taken
    /// (captions come from `setCaptions`; the t-only conditioning was cached at creation).
    public func setLabels(_ labels: UnsafePointer<Int32>, rows: Int) {
        precondition(rows <= maxRows, "PixArtEvaluator: \(rows) rows > maxRows \(maxRows)")
        if !captionsSet || rows != self.rows {
            setCaptions(features: nil, mask: nil, length: 0, captionRows: 0, rows: rows)
        }
    }

    public func evaluate(
        x: UnsafePointer<Float>, v: UnsafePointer<Float>?, timeIndex: Int,
        out: UnsafeMutablePointer<Float>
    ) {
        tokenPath(x: x, v: v, mods: timeCache.ptr + timeIndex * c.modulationWidth, modStride: 0, rows: rows, out: out)
    }

    public func evaluate(
        x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: Float,
        out: UnsafeMutablePointer<Float>
    ) {
        tmp.ptr[0] = t
        conditioning(t: UnsafePointer(tmp.ptr), rows: 1, into: mods.ptr)
        tokenPath(x: x, v: v, mods: mods.ptr, modStride: 0, rows: rows, out: out)
    }

    /// Full forward with a time per row, after `setCaptions` (used by `flowturbo forward` and tests).
    public func forward(
        x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>
    ) {
        conditioning(t: t, rows: rows, into: mods.ptr)
        tokenPath(x: x, v: v, mods: mods.ptr, modStride: c.modulationWidth, rows: rows, out: out)
    }

    /// mods[r] = [scale_shift_table_l + t_block(t_emb) (6D) × depth | final table + t_emb (2D)],
    /// t_emb = t_embedder(t_r).
    func conditioning(t: UnsafePointer<Float>, rows: Int, into m: UnsafeMutablePointer<Float>) {
        let d = c.hiddenSize
        let fdim = c.frequencyEmbeddingSize
        let mw = c.modulationWidth
        Embeddings.timestep(t, rows: rows, freqs: freqs, dim: fdim, out: freq.ptr)
        Gemm.linear(freq.ptr, rows: rows, inF: fdim, weight: w.t0W.ptr, bias: w.t0B.ptr, outF: d, out: tmp.ptr)
        Activations.silu(tmp.ptr, count: rows * d)
        Gemm.linear(tmp.ptr, rows: rows, inF: d, weight: w.t2W.ptr, bias: w.t2B.ptr, outF: d, out: temb.ptr)
        Activations.silu(temb.ptr, count: rows * d, out: tmp.ptr)
        Gemm.linear(tmp.ptr, rows: rows, inF: d, weight: w.tBlockW.ptr, bias: w.tBlockB.ptr, outF: 6 * d, out: t0.ptr)
        for l in 0..<c.depth {  // index loops: `for … in array` allocates in unoptimised builds
            AdaLNSingle.forward(
                t0: t0.ptr, t0Stride: 6 * d, table: w.blocks[l].table.ptr, rows: rows, width: 6 * d,
                out: m + l * 6 * d, outStride: mw)
        }
        let mf = m + c.depth * 6 * d
        AdaLNSingle.forward(
            t0: temb.ptr, t0Stride: d, table: w.finalTable.ptr, rows: rows, width: d,
            out: mf, outStride: mw)
        AdaLNSingle.forward(
            t0: temb.ptr, t0Stride: d, table: w.finalTable.ptr + d, rows: rows, width: d,
            out: mf + d, outStride: mw)
    }
}
