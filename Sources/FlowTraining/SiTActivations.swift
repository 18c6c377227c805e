import FlowModels
import FlowTensor

/// Saved activations of one SiT block for the backward pass (rows R = batch·tokens).
final class SiTBlockActivations {
    let xIn, xhat1, rstd1, h1, qkv, probs, att, proj, xMid, xhat2, rstd2, h2, pre, act, fc2: Buffer
    init(_ c: SiTConfig, batch: Int) {
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
        xMid = Buffer(count: r * d)
        xhat2 = Buffer(count: r * d)
        rstd2 = Buffer(count: r)
        h2 = Buffer(count: r * d)
        pre = Buffer(count: r * hid)
        act = Buffer(count: r * hid)
        fc2 = Buffer(count: r * d)
    }
}

/// Every activation the SiT training forward keeps, plus the gradient workspaces of the backward pass.
/// Allocated once for `batch` rows; no allocation per step.
final class SiTActivations {
    let batch: Int
    let blocks: [SiTBlockActivations]
    // conditioning path
    let freq, tPre, tAct, cPre, cAct, mods: Buffer
    // token path ends
    let patches, xOut, xhatF, rstdF, hF, y: Buffer
    // backward workspaces
    let dX, dH, dQKV, dAtt, dHid, dY, dMods, dCAct, dC, dTAct, scratch: Buffer

    init(_ c: SiTConfig, batch: Int) {
        self.batch = batch
        let r = batch * c.tokens
        let d = c.hiddenSize
        let p2 = c.patchSize * c.patchSize
        blocks = (0..<c.depth).map { _ in SiTBlockActivations(c, batch: batch) }
        freq = Buffer(count: batch * c.frequencyEmbeddingSize)
        tPre = Buffer(count: batch * d)
        tAct = Buffer(count: batch * d)
        cPre = Buffer(count: batch * d)
        cAct = Buffer(count: batch * d)
        mods = Buffer(count: batch * c.modulationWidth)
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
        dHid = Buffer(count: r * c.mlpHidden)
        dY = Buffer(count: r * p2 * c.outChannels)
        dMods = Buffer(count: batch * c.modulationWidth)
        dCAct = Buffer(count: batch * d)
        dC = Buffer(count: batch * d)
        dTAct = Buffer(count: batch * d)
        scratch = Buffer(count: 2 * c.tokens * c.tokens)  // one T×T score matrix per worker (Parallel.parts ≤ 2)
    }
}
