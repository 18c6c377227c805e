import FlowModels
import FlowTensor

/// The official PixArt-α initialisation (`PixArt.initialize_weights` and the module constructors): Xavier-uniform
/// linears with zero biases (the patch embedding viewed as [D, C·p·p]); N(0, 0.02²) timestep-MLP, `t_block` and
/// caption-projection weights; `scale_shift_table`s N(0, 1)/√D; the null caption `y_embedding` N(0, 1)/√C_caption;
/// zero cross-attention output projections and a zero final linear (the network starts at velocity 0).
public enum PixArtInit {
    /// Re-initialises every tensor of `w` from `seed` except the fixed sin-cos `pos_embed`.
    public static func official(_ w: PixArtWeights, seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        func xavier(_ b: Buffer, fanOut: Int, fanIn: Int) {
            let a = (6 / Double(fanIn + fanOut)).squareRoot()
            for i in 0..<b.count { b.ptr[i] = Float((2 * rng.uniform() - 1) * a) }
        }
        func normal(_ b: Buffer, _ std: Double) { b.copy(from: rng.normals(b.count, std: std)) }
        let c = w.config
        let d = c.hiddenSize
        let h = c.mlpHidden
        for (_, _, b) in w.named where b !== w.pos { b.fill(0) }
        xavier(w.xW, fanOut: d, fanIn: c.embedChannels * c.patchSize * c.patchSize)
        normal(w.t0W, 0.02)
        normal(w.t2W, 0.02)
        normal(w.tBlockW, 0.02)
        normal(w.yFc1W, 0.02)
        normal(w.yFc2W, 0.02)
        normal(w.nullCaption, 1 / Double(c.captionChannels).squareRoot())
        for b in w.blocks {
            normal(b.table, 1 / Double(d).squareRoot())
            xavier(b.qkvW, fanOut: 3 * d, fanIn: d)
            xavier(b.projW, fanOut: d, fanIn: d)
            xavier(b.qW, fanOut: d, fanIn: d)
            xavier(b.kvW, fanOut: 2 * d, fanIn: d)
            xavier(b.fc1W, fanOut: h, fanIn: d)
            xavier(b.fc2W, fanOut: d, fanIn: h)
        }
        normal(w.finalTable, 1 / Double(d).squareRoot())
    }
}
