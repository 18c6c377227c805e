import FlowModels
import FlowTensor
import Foundation

/// An independent float64 PixArt-α forward written straight from the official PyTorch modules (PatchEmbed,
/// TimestepEmbedder, t_block, CaptionEmbedder's Mlp, PixArtBlock with adaLN-single, MultiHeadCrossAttention over the
/// caption's real tokens, T2IFinalLayer, unpatchify), with naive loops and no code shared with the fast path.
/// Weights are read by official name; `p` is mutable so finite differences can perturb one coordinate.
public struct ReferencePixArt {
    public let cfg: PixArtConfig
    public var p: [String: [Double]] = [:]

    public init(_ model: PixArtModel) {
        cfg = model.config
        for (name, _, buf) in model.weights.named { p[name] = buf.array.map(Double.init) }
    }

    /// y[n][o] = Σ_i x[n][i] W[o][i] + b[o]
    func linear(_ x: [[Double]], _ name: String) -> [[Double]] {
        let W = p[name + ".weight"]!
        let b = p[name + ".bias"]!
        let o = b.count
        let i = W.count / o
        return x.map { row in
            (0..<o).map { r in
                var s = b[r]
                for k in 0..<i { s += row[k] * W[r * i + k] }
                return s
            }
        }
    }

    func layerNorm(_ x: [Double]) -> [Double] {
        let m = x.reduce(0, +) / Double(x.count)
        let v = x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count)
        return x.map { ($0 - m) / (v + 1e-6).squareRoot() }
    }

    func silu(_ x: Double) -> Double { x / (1 + Foundation.exp(-x)) }
    func gelu(_ x: Double) -> Double {
        0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    /// t2i_modulate(LN(row), shift, scale) = LN(row)·(1 + scale) + shift
    func modulated(_ rows: [[Double]], shift: [Double], scale: [Double]) -> [[Double]] {
        rows.map { row in
            let n = layerNorm(row)
            return (0..<n.count).map { n[$0] * (1 + scale[$0]) + shift[$0] }
        }
    }

    /// Softmax attention of each query row over `keys`/`values` rows, per head (columns hh·hd ..< (hh+1)·hd).
    func attention(_ q: [[Double]], _ k: [[Double]], _ v: [[Double]], heads: Int) -> [[Double]] {
        let d = q[0].count
        let hd = d / heads
        var out = [[Double]](repeating: [Double](repeating: 0, count: d), count: q.count)
        for hh in 0..<heads {
            for a in 0..<q.count {
                var logits = [Double](repeating: 0, count: k.count)
                for b in 0..<k.count {
                    var s = 0.0
                    for j in 0..<hd { s += q[a][hh * hd + j] * k[b][hh * hd + j] }
                    logits[b] = s / Double(hd).squareRoot()
                }
                let mx = logits.max()!
                let ex = logits.map { Foundation.exp($0 - mx) }
                let z = ex.reduce(0, +)
                for j in 0..<hd {
                    var s = 0.0
                    for b in 0..<k.count { s += ex[b] / z * v[b][hh * hd + j] }
                    out[a][hh * hd + j] = s
                }
            }
        }
        return out
    }

    /// x: [Cin][H][W]; caption: [L][C_caption] with mask[L] (non-zero = real token) → [C][H][W].
    public func forward(
        x: [[[Double]]], t: Double, caption: [[Double]], mask: [Int],
        v: [[[Double]]]?
    ) -> [[[Double]]] {
        let D = cfg.hiddenSize
        let P = cfg.patchSize
        let G = cfg.grid
        let H = cfg.numHeads
        var input = x
        if let v { input += v }
        let cw = p["x_embedder.proj.weight"]!
        let cb = p["x_embedder.proj.bias"]!
        let pos = p["pos_embed"]!
        let cin = input.count
        var tokens: [[Double]] = []
        for i in 0..<G {
            for j in 0..<G {
                tokens.append(
                    (0..<D).map { d in
                        var s = cb[d]
                        for c in 0..<cin {
                            for a in 0..<P {
                                for b in 0..<P {
                                    s += cw[((d * cin + c) * P + a) * P + b] * input[c][i * P + a][j * P + b]
                                }
                            }
                        }
                        return s + pos[(i * G + j) * D + d]
                    })
            }
        }
        let half = cfg.frequencyEmbeddingSize / 2
        var tf = [Double](repeating: 0, count: cfg.frequencyEmbeddingSize)
        for k in 0..<half {
            let f = Foundation.exp(-Foundation.log(10000.0) * Double(k) / Double(half))
            tf[k] = Foundation.cos(t * f)
            tf[half + k] = Foundation.sin(t * f)
        }
        let temb = linear([linear([tf], "t_embedder.mlp.0")[0].map(silu)], "t_embedder.mlp.2")[0]
        let t0 = linear([temb.map(silu)], "t_block.1")[0]
        let real = caption.indices.filter { mask[$0] != 0 }.map { caption[$0] }
        let y = linear(linear(real, "y_embedder.y_proj.fc1").map { $0.map(gelu) }, "y_embedder.y_proj.fc2")
        for l in 0..<cfg.depth {
            let n = "blocks.\(l)."
            let table = p[n + "scale_shift_table"]!
            let chunk = { (k: Int) in (0..<D).map { table[k * D + $0] + t0[k * D + $0] } }
            let h1 = modulated(tokens, shift: chunk(0), scale: chunk(1))
            let qkv = linear(h1, n + "attn.qkv")
            let att = attention(
                qkv.map { Array($0[0..<D]) }, qkv.map { Array($0[D..<(2 * D)]) },
                qkv.map { Array($0[(2 * D)...]) }, heads: H)
            let proj = linear(att, n + "attn.proj")
            let g1 = chunk(2)
            for a in tokens.indices { for d in 0..<D { tokens[a][d] += g1[d] * proj[a][d] } }
            let q = linear(tokens, n + "cross_attn.q_linear")
            let kv = linear(y, n + "cross_attn.kv_linear")
            let cross = linear(
                attention(q, kv.map { Array($0[0..<D]) }, kv.map { Array($0[D...]) }, heads: H),
                n + "cross_attn.proj")
            for a in tokens.indices { for d in 0..<D { tokens[a][d] += cross[a][d] } }
            let f2 = linear(
                linear(
                    modulated(tokens, shift: chunk(3), scale: chunk(4)),
                    n + "mlp.fc1"
                ).map { $0.map(gelu) },
                n + "mlp.fc2")
            let g2 = chunk(5)
            for a in tokens.indices { for d in 0..<D { tokens[a][d] += g2[d] * f2[a][d] } }
        }
        let ft = p["final_layer.scale_shift_table"]!
        let outTok = linear(
            modulated(
                tokens, shift: (0..<D).map { ft[$0] + temb[$0] },
                scale: (0..<D).map { ft[D + $0] + temb[$0] }), "final_layer.linear")
        let cout = cfg.outChannels
        let S = cfg.inputSize
        var img = [[[Double]]](
            repeating: [[Double]](repeating: [Double](repeating: 0, count: S), count: S),
            count: cout)
        for i in 0..<G {
            for j in 0..<G {
                for a in 0..<P {
                    for b in 0..<P {
                        for c in 0..<cout { img[c][i * P + a][j * P + b] = outTok[i * G + j][(a * P + b) * cout + c] }
                    }
                }
            }
        }
        var kept = Array(img[0..<cfg.inChannels])
        if cfg.isRefiner, let v {
            for c in 0..<kept.count { for a in 0..<S { for b in 0..<S { kept[c][a][b] += v[c][a][b] } } }
        }
        return kept
    }
}
