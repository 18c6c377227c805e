import FlowModels
import FlowTensor
import Foundation

/// An independent float64 SiT forward written straight from the official PyTorch modules
/// (Conv2d patch embed, nn.Linear, LayerNorm, timm Attention, GELU(tanh), einsum unpatchify),
/// with naive loops and no code shared with the fast path. Weights are read by official name
/// from the model's `named` tensors. Shared by FlowModelsTests (forward checks) and FlowTrainingTests (float64
/// loss for gradient checks: `p` is mutable so finite differences can perturb one coordinate).
public struct ReferenceSiT {
    public let cfg: SiTConfig
    public var p: [String: [Double]] = [:]

    public init(_ model: SiTModel) {
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

    /// x: [Cin][H][W] (already concatenated for a refiner) → [Cout_kept][H][W]
    public func forward(x: [[[Double]]], t: Double, y: Int, v: [[[Double]]]?) -> [[[Double]]] {
        let D = cfg.hiddenSize
        let P = cfg.patchSize
        let G = cfg.grid
        var input = x
        if let v { input += v }
        // Conv2d(k = P, stride = P): weight [D][Cin][P][P]
        let cw = p["x_embedder.proj.weight"]!
        let cb = p["x_embedder.proj.bias"]!
        let cin = input.count
        var tokens: [[Double]] = []
        for i in 0..<G {
            for j in 0..<G {
                var e = [Double](repeating: 0, count: D)
                for d in 0..<D {
                    var s = cb[d]
                    for c in 0..<cin {
                        for a in 0..<P {
                            for b in 0..<P {
                                s += cw[((d * cin + c) * P + a) * P + b] * input[c][i * P + a][j * P + b]
                            }
                        }
                    }
                    e[d] = s + p["pos_embed"]![(i * G + j) * D + d]
                }
                tokens.append(e)
            }
        }
        // timestep embedding: cat(cos, sin)
        let half = cfg.frequencyEmbeddingSize / 2
        var tf = [Double](repeating: 0, count: cfg.frequencyEmbeddingSize)
        for k in 0..<half {
            let f = Foundation.exp(-Foundation.log(10000.0) * Double(k) / Double(half))
            tf[k] = Foundation.cos(t * f)
            tf[half + k] = Foundation.sin(t * f)
        }
        var temb = linear([tf], "t_embedder.mlp.0")[0].map(silu)
        temb = linear([temb], "t_embedder.mlp.2")[0]
        let table = p["y_embedder.embedding_table.weight"]!
        let cvec = (0..<D).map { temb[$0] + table[y * D + $0] }
        let sc = cvec.map(silu)
        let H = cfg.numHeads
        let hd = D / H
        let T = G * G
        for l in 0..<cfg.depth {
            let n = "blocks.\(l)."
            let mod = linear([sc], n + "adaLN_modulation.1")[0]
            let chunk = { (k: Int) in Array(mod[(k * D)..<((k + 1) * D)]) }
            let (sh1, s1, g1, sh2, s2, g2) = (chunk(0), chunk(1), chunk(2), chunk(3), chunk(4), chunk(5))
            let h1 = tokens.map { row in
                zip(layerNorm(row).enumerated().map { $0.element * (1 + s1[$0.offset]) }, sh1).map(+)
            }
            let qkv = linear(h1, n + "attn.qkv")
            var att = [[Double]](repeating: [Double](repeating: 0, count: D), count: T)
            for hh in 0..<H {
                for a in 0..<T {
                    var logits = [Double](repeating: 0, count: T)
                    for b in 0..<T {
                        var s = 0.0
                        for j in 0..<hd { s += qkv[a][hh * hd + j] * qkv[b][D + hh * hd + j] }
                        logits[b] = s / Double(hd).squareRoot()
                    }
                    let mx = logits.max()!
                    let ex = logits.map { Foundation.exp($0 - mx) }
                    let z = ex.reduce(0, +)
                    for j in 0..<hd {
                        var s = 0.0
                        for b in 0..<T { s += ex[b] / z * qkv[b][2 * D + hh * hd + j] }
                        att[a][hh * hd + j] = s
                    }
                }
            }
            let proj = linear(att, n + "attn.proj")
            for a in 0..<T { for d in 0..<D { tokens[a][d] += g1[d] * proj[a][d] } }
            let h2 = tokens.map { row in
                zip(layerNorm(row).enumerated().map { $0.element * (1 + s2[$0.offset]) }, sh2).map(+)
            }
            let f1 = linear(h2, n + "mlp.fc1").map { $0.map(gelu) }
            let f2 = linear(f1, n + "mlp.fc2")
            for a in 0..<T { for d in 0..<D { tokens[a][d] += g2[d] * f2[a][d] } }
        }
        let fm = linear([sc], "final_layer.adaLN_modulation.1")[0]
        let shift = Array(fm[0..<D])
        let scale = Array(fm[D..<(2 * D)])
        let hf = tokens.map { row in
            zip(layerNorm(row).enumerated().map { $0.element * (1 + scale[$0.offset]) }, shift).map(+)
        }
        let outTok = linear(hf, "final_layer.linear")
        // unpatchify: reshape (h, w, p, q, c) → einsum nhwpqc->nchpwq
        let cout = cfg.outChannels
        let S = cfg.inputSize
        var img = [[[Double]]](
            repeating: [[Double]](repeating: [Double](repeating: 0, count: S), count: S), count: cout)
        for i in 0..<G {
            for j in 0..<G {
                for a in 0..<P {
                    for b in 0..<P {
                        for c in 0..<cout {
                            img[c][i * P + a][j * P + b] = outTok[i * G + j][(a * P + b) * cout + c]
                        }
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
