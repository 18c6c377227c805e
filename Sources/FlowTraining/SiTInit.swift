import FlowModels
import FlowTensor
import Foundation

/// The official DiT/SiT initialisation (`initialize_weights`): Xavier-uniform linears (patch embedding
/// viewed as [D, C·p·p]) with zero biases, N(0, 0.02²) label table and timestep-MLP weights, and
/// adaLN-Zero — every adaLN modulation and the final linear start at zero, so each block starts as the
/// identity and a refiner's output starts at zero (it returns v_prev until trained).
public enum SiTInit {
    /// Re-initialises every parameter of `w` from `seed` (the fixed position embedding is left alone).
    public static func official(_ w: SiTWeights, seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        func xavier(_ b: Buffer, fanOut: Int, fanIn: Int) {
            let a = (6 / Double(fanIn + fanOut)).squareRoot()
            for i in 0..<b.count { b.ptr[i] = Float((2 * rng.uniform() - 1) * a) }
        }
        func normal(_ b: Buffer, _ std: Double) { b.copy(from: rng.normals(b.count, std: std)) }
        let c = w.config
        let d = c.hiddenSize
        for (_, _, b) in w.named where b !== w.pos { b.fill(0) }
        xavier(w.xW, fanOut: d, fanIn: c.embedChannels * c.patchSize * c.patchSize)
        normal(w.yTable, 0.02)
        normal(w.t0W, 0.02)
        normal(w.t2W, 0.02)
        for b in w.blocks {
            xavier(b.qkvW, fanOut: 3 * d, fanIn: d)
            xavier(b.projW, fanOut: d, fanIn: d)
            xavier(b.fc1W, fanOut: c.mlpHidden, fanIn: d)
            xavier(b.fc2W, fanOut: d, fanIn: c.mlpHidden)
        }
    }
}
