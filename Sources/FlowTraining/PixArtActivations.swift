import FlowModels
import FlowTensor

/// Saved activations of one PixArt block for the backward pass (rows R = batch·tokens, n = packed caption tokens).
final class PixArtBlockActivations {
    let xIn, xhat1, rstd1, h1, qkv, probs, att, proj, xA: Buffer  // self-attention
    let q, kv, cprobs, catt, cproj, xMid: Buffer  // cross-attention
    let xhat2, rstd2, h2, pre, act, fc2: Buffer  // MLP
    init(_ c: PixArtConfig, batch: Int, captionTokens n: Int, maxCaptionLength l: Int) {
        let r = batch * c.tokens
        let d = c.hiddenSize
        let hid = c.mlpHidden
        xIn = Buffer(count: r * d)
        xhat1 = Buffer(count: r * d)
        rstd1 = Buffer(count: r)
        h1 = Buffer(count: r * d)
        qkv = Buffer(count: r * 3 * d)
        probs = Buffer(count: batch * c.numHeads * c.tokens * c.tokens)
        att = Buffer(count: r * d)
        proj = Buffer(count: r * d)
        xA = Buffer(count: r * d)
        q = Buffer(count: r * d)
        kv = Buffer(count: n * 2 * d)
        cprobs = Buffer(count: CrossAttention.probsCount(batch: batch, tokens: c.tokens, heads: c.numHeads, maxKeys: l))
        catt = Buffer(count: r * d)
        cproj = Buffer(count: r * d)
        xMid = Buffer(count: r * d)
        xhat2 = Buffer(count: r * d)
        rstd2 = Buffer(count: r)
        h2 = Buffer(count: r * d)
        pre = Buffer(count: r * hid)
        act = Buffer(count: r * hid)
        fc2 = Buffer(count: r * d)
    }
}

/// Every activation the PixArt training forward keeps, plus the backward workspaces. Allocated once for
/// `batch` rows with captions of up to `maxCaptionLength` tokens; no allocation per step.
final class PixArtActivations {
    let blocks: [PixArtBlockActivations]
    let offsets, lengths: UnsafeMutablePointer<Int>
    // conditioning: t path [rows, ·] and caption path [n, ·]
    let freq, tPre, tAct, tEmb, tSilu, t0, mods: Buffer
    let capFeat, capPre, capAct, capEmb: Buffer
    // token path ends
    let patches, xOut, xhatF, rstdF, hF, y: Buffer
    // backward workspaces
    let dX, dH, dQKV, dAtt, dQ, dKV, dHid, dY, dMods, dT0, dTSilu, dTEmb, dTAct, dCapEmb, dCapAct, scratch: Buffer

    init(_ c: PixArtConfig, batch: Int, maxCaptionLength l: Int) {
        let r = batch * c.tokens
        let d = c.hiddenSize
        let p2 = c.patchSize * c.patchSize
        let n = batch * l
        blocks = (0..<c.depth).map { _ in
            PixArtBlockActivations(
                c, batch: batch, captionTokens: n,
                maxCaptionLength: l)
        }
        offsets = .allocate(capacity: max(batch, 1))
        offsets.initialize(repeating: 0, count: max(batch, 1))
        lengths = .allocate(capacity: max(batch, 1))
        lengths.initialize(repeating: 0, count: max(batch, 1))
        freq = Buffer(count: batch * c.frequencyEmbeddingSize)
        tPre = Buffer(count: batch * d)
        tAct = Buffer(count: batch * d)
        tEmb = Buffer(count: batch * d)
        tSilu = Buffer(count: batch * d)
        t0 = Buffer(count: batch * 6 * d)
        mods = Buffer(count: batch * c.modulationWidth)
        capFeat = Buffer(count: n * c.captionChannels)
        capPre = Buffer(count: n * d)
        capAct = Buffer(count: n * d)
        capEmb = Buffer(count: n * d)
        patches = Buffer(count: r * c.embedChannels * p2)
        xOut = Buffer(count: r * d)
        xhatF = Buffer(count: r * d)
        rstdF = Buffer(count: r)
        hF = Buffer(count: r * d)
        y = Buffer(count: r * p2 * c.outChannels)
        dX = Buffer(count: r * d)
        dH = Buffer(count: r * d)
        dQKV = Buffer(count: r * 3 * d)
        dAtt = Buffer(count: r * d)
        dQ = Buffer(count: r * d)
        dKV = Buffer(count: n * 2 * d)
        dHid = Buffer(count: r * c.mlpHidden)
        dY = Buffer(count: r * p2 * c.outChannels)
        dMods = Buffer(count: batch * c.modulationWidth)
        dT0 = Buffer(count: batch * 6 * d)
        dTSilu = Buffer(count: batch * d)
        dTEmb = Buffer(count: batch * d)
        dTAct = Buffer(count: batch * d)
        dCapEmb = Buffer(count: n * d)
        dCapAct = Buffer(count: n * d)
        scratch = Buffer(count: max(c.tokens * c.tokens, CrossAttention.scratchCount(tokens: c.tokens, maxKeys: l)))
    }

    deinit {
        offsets.deallocate()
        lengths.deallocate()
    }
}
