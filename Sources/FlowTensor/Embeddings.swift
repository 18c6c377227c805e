import Foundation

/// Fixed embeddings of the SiT/DiT family: 2-D sin-cos position embedding and the sinusoidal timestep embedding.
public enum Embeddings {
    /// MAE/DiT `get_2d_sincos_pos_embed(dim, grid)`: [grid², dim]; for token m = i·grid + j the first dim/2
    /// values encode the column j and the last dim/2 the row i, each as [sin(pos·ω) | cos(pos·ω)] with
    /// ω_k = 10000^(−k/(dim/4)). Computed in float64 like numpy, stored as float32.
    public static func positional2D(dim: Int, grid: Int) -> [Float] {
        precondition(dim % 4 == 0, "positional2D: dim must be a multiple of 4")
        let quarter = dim / 4
        var out = [Float](repeating: 0, count: grid * grid * dim)
        for i in 0..<grid {
            for j in 0..<grid {
                let m = i * grid + j
                for (half, pos) in [(0, Double(j)), (1, Double(i))] {
                    for k in 0..<quarter {
                        let omega = 1 / pow(10000.0, Double(k) / Double(quarter))
                        let a = pos * omega
                        out[m * dim + half * (dim / 2) + k] = Float(sin(a))
                        out[m * dim + half * (dim / 2) + quarter + k] = Float(cos(a))
                    }
                }
            }
        }
        return out
    }

    /// Frequencies of the timestep embedding, f_k = exp(−ln(maxPeriod)·k/half) in float32 as PyTorch computes them.
    public static func timestepFrequencies(dim: Int = 256, maxPeriod: Double = 10000) -> [Float] {
        let half = dim / 2
        let c = Float(-log(maxPeriod))
        return (0..<half).map { k in Float(exp(Double(c * Float(k) / Float(half)))) }
    }

    /// GLIDE/DiT `timestep_embedding`: out[r] = [cos(t_r·f) | sin(t_r·f)] (+ a zero if dim is odd).
    public static func timestep(
        _ t: UnsafePointer<Float>, rows: Int, freqs: [Float], dim: Int, out: UnsafeMutablePointer<Float>
    ) {
        let half = freqs.count
        for r in 0..<rows {
            let o = out + r * dim
            for k in 0..<half {
                let a = t[r] * freqs[k]
                o[k] = Float(cos(Double(a)))
                o[half + k] = Float(sin(Double(a)))
            }
            if dim % 2 == 1 { o[dim - 1] = 0 }
        }
    }

    /// Label-embedder backward: dTable[labels[r]] += dout[r] for each row (the embedding lookup's scatter-add).
    public static func tableBackward(
        dout: UnsafePointer<Float>, labels: UnsafePointer<Int32>, rows: Int, dim: Int,
        dTable: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let o = dTable + Int(labels[r]) * dim
            let g = dout + r * dim
            for i in 0..<dim { o[i] += g[i] }
        }
    }
}
