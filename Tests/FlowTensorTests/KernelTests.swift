import Foundation
import XCTest

@testable import FlowTensor

/// Each kernel against a naive float64 reference on random inputs (relative error ≤ 1e-5).
final class KernelTests: XCTestCase {
    var rng = SeededRandom(seed: 42)

    func rand(_ n: Int, std: Double = 1) -> [Float] { rng.normals(n, std: std) }

    func relErr(_ a: [Float], _ b: [Double]) -> Double {
        XCTAssertEqual(a.count, b.count)
        var e = 0.0
        var m = 0.0
        for i in 0..<a.count {
            e = max(e, abs(Double(a[i]) - b[i]))
            m = max(m, abs(b[i]))
        }
        return e / max(m, 1e-30)
    }

    func testSgemmAllTransposes() {
        let m = 7
        let n = 5
        let k = 9
        for ta in [false, true] {
            for tb in [false, true] {
                let a = rand(m * k)
                let b = rand(k * n)
                var c = [Float](repeating: 0.5, count: m * n)
                let c0 = c
                Gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1.5, a: a, b: b, beta: 0.25, c: &c)
                var ref = [Double](repeating: 0, count: m * n)
                for i in 0..<m {
                    for j in 0..<n {
                        var s = 0.0
                        for p in 0..<k {
                            let av = ta ? a[p * m + i] : a[i * k + p]
                            let bv = tb ? b[j * k + p] : b[p * n + j]
                            s += Double(av) * Double(bv)
                        }
                        ref[i * n + j] = 1.5 * s + 0.25 * Double(c0[i * n + j])
                    }
                }
                XCTAssertLessThan(relErr(c, ref), 1e-5, "transA \(ta) transB \(tb)")
            }
        }
    }

    func testLinearMatchesTorchLayout() {
        let rows = 6
        let inF = 11
        let outF = 4
        let x = rand(rows * inF)
        let w = rand(outF * inF)
        let b = rand(outF)
        var out = [Float](repeating: .nan, count: rows * outF)
        Gemm.linear(x, rows: rows, inF: inF, weight: w, bias: b, outF: outF, out: &out)
        var ref = [Double](repeating: 0, count: rows * outF)
        for r in 0..<rows {
            for o in 0..<outF {
                var s = Double(b[o])
                for i in 0..<inF { s += Double(x[r * inF + i]) * Double(w[o * inF + i]) }
                ref[r * outF + o] = s
            }
        }
        XCTAssertLessThan(relErr(out, ref), 1e-5)
    }

    func testLayerNormPlainAndModulated() {
        let batch = 3
        let tokens = 4
        let dim = 24
        let x = rand(batch * tokens * dim, std: 3).map { $0 + 5 }  // offset mean: stresses the variance formula
        let shift = rand(batch * 2 * dim)
        let scale = rand(batch * 2 * dim)
        var plain = [Float](repeating: 0, count: x.count)
        var mod = plain
        LayerNorm.forward(x, rows: batch * tokens, dim: dim, out: &plain)
        LayerNorm.forwardModulated(
            x, batch: batch, tokens: tokens, dim: dim, shift: shift, scale: Array(scale[dim...]),
            modStride: 2 * dim, out: &mod)
        var refP = [Double]()
        var refM = [Double]()
        for r in 0..<(batch * tokens) {
            let row = (0..<dim).map { Double(x[r * dim + $0]) }
            let mean = row.reduce(0, +) / Double(dim)
            let v = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim)
            let n = row.map { ($0 - mean) / (v + 1e-6).squareRoot() }
            refP += n
            let b = r / tokens
            refM += (0..<dim).map {
                n[$0] * (1 + Double(scale[dim + b * 2 * dim + $0])) + Double(shift[b * 2 * dim + $0])
            }
        }
        XCTAssertLessThan(relErr(plain, refP), 1e-5)
        XCTAssertLessThan(relErr(mod, refM), 1e-5)
    }

    func testGeluAndSiluIncludingTailsAndExtremes() {
        var x = rand(1003, std: 4)
        x += [0, -0.01, 0.01, 30, -30, 88, -88, 200, -200]
        var g = x
        var s = x
        Activations.gelu(&g, count: g.count)
        Activations.silu(&s, count: s.count)
        let rg = x.map { v -> Double in
            let d = Double(v)
            return 0.5 * d * (1 + tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)))
        }
        let rs = x.map { v -> Double in
            let d = Double(v)
            return d / (1 + exp(-d))
        }
        for i in 0..<x.count {
            XCTAssertLessThanOrEqual(abs(Double(g[i]) - rg[i]), 1e-5 * max(1, abs(rg[i])), "gelu(\(x[i]))")
            XCTAssertLessThanOrEqual(abs(Double(s[i]) - rs[i]), 1e-5 * max(1, abs(rs[i])), "silu(\(x[i]))")
        }
    }

    func testFastExpRelativeAccuracy() {
        var worst = 0.0
        var v: Float = -87
        while v < 88 {
            let e = FastMath.exp(v)
            let r = exp(Double(v))
            worst = max(worst, abs(Double(e) - r) / r)
            v += 0.0137
        }
        XCTAssertLessThan(worst, 5e-7)
    }

    func testAttentionWithThreeHeadsAgainstNaive() {
        let batch = 2
        let tokens = 5
        let heads = 3
        let hd = 4
        let d = heads * hd
        let qkv = rand(batch * tokens * 3 * d, std: 2)
        var out = [Float](repeating: 0, count: batch * tokens * d)
        var scratch = [Float](repeating: 0, count: Attention.scratchCount(tokens: tokens))
        Attention.forward(
            qkv: qkv, batch: batch, tokens: tokens, heads: heads, headDim: hd, out: &out, scratch: &scratch)
        var ref = [Double](repeating: 0, count: out.count)
        func at(_ b: Int, _ t: Int, _ which: Int, _ h: Int, _ j: Int) -> Double {
            Double(qkv[(b * tokens + t) * 3 * d + which * d + h * hd + j])
        }
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<tokens {
                    var logits = (0..<tokens).map { s in
                        (0..<hd).map { at(b, i, 0, h, $0) * at(b, s, 1, h, $0) }.reduce(0, +) / Double(hd).squareRoot()
                    }
                    let mx = logits.max()!
                    logits = logits.map { exp($0 - mx) }
                    let z = logits.reduce(0, +)
                    for j in 0..<hd {
                        ref[(b * tokens + i) * d + h * hd + j] = (0..<tokens).map {
                            logits[$0] / z * at(b, $0, 2, h, j)
                        }.reduce(0, +)
                    }
                }
            }
        }
        XCTAssertLessThan(relErr(out, ref), 1e-5)
    }

    func testSoftmaxIsStableForHugeLogits() {
        var s: [Float] = [1000, 1001, 999, -1e30]
        Attention.softmaxRows(&s, rows: 1, cols: 4)
        let z = exp(-1.0) + 1 + exp(-2.0)
        XCTAssertEqual(Double(s[1]), 1 / z, accuracy: 1e-6)
        XCTAssertEqual(s[3], 0)
        XCTAssertFalse(s.contains { $0.isNaN })
    }

    /// The vectorised reductions behind LayerNorm, softmax and attention backward, at every length 0…40 (full
    /// SIMD blocks, tails, both) and with the maximum in the tail or in a block.
    func testFastMathReductionsAgainstFloat64() {
        for n in 0...40 {
            var a = rand(n, std: 3)
            var b = rand(n)
            if n > 0 { a[n - 1] += 50 }  // maximum in the tail (or the last block)
            if n > 9 { a[3] += 100 }  // … then inside the first block
            let a64 = a.map(Double.init)
            let b64 = b.map(Double.init)
            let sum64 = a64.reduce(0, +)
            let scale = a64.map(abs).reduce(0, +) + 1
            XCTAssertEqual(Double(FastMath.sum(a, n)), sum64, accuracy: 1e-6 * scale, "sum n=\(n)")
            let dot64 = zip(a64, b64).map(*).reduce(0, +)
            let dscale = zip(a64, b64).map { abs($0 * $1) }.reduce(0, +) + 1
            XCTAssertEqual(Double(FastMath.dot(a, b, n)), dot64, accuracy: 1e-6 * dscale, "dot n=\(n)")
            let m = n == 0 ? 0 : Float(sum64 / Double(n))
            let ssd64 = a64.map { ($0 - Double(m)) * ($0 - Double(m)) }.reduce(0, +)
            XCTAssertEqual(
                Double(FastMath.sumSquaredDeviations(a, n, mean: m)), ssd64, accuracy: 1e-5 * (ssd64 + 1), "ssd n=\(n)")
            XCTAssertEqual(FastMath.max(a, n), n == 0 ? -Float.infinity : a.max()!, "max n=\(n)")
            var e = a
            let shift = n == 0 ? 0 : a.max()!
            let es = FastMath.expShiftedSum(&e, n, shift: shift)
            let e64 = a64.map { Foundation.exp($0 - Double(shift)) }
            XCTAssertLessThanOrEqual(relErr(e, e64), 1e-6, "exp n=\(n)")
            XCTAssertEqual(Double(es), e64.reduce(0, +), accuracy: 1e-6 * (e64.reduce(0, +) + 1), "exp sum n=\(n)")
        }
    }

    func testPatchifyAndUnpatchifyMatchConvAndEinsumLayouts() {
        let n = 2
        let c = 3
        let size = 6
        let p = 2
        let g = size / p
        let a = rand(n * 2 * size * size)
        let b = rand(n * 1 * size * size)
        var pt = [Float](repeating: 0, count: n * g * g * c * p * p)
        Patches.patchify(a, channelsA: 2, b, channelsB: 1, batch: n, size: size, patch: p, out: &pt)
        // Conv2d view: patch (i, j) flattened as weight[d, c, a, b] reads input[c, i·p+a, j·p+b].
        for s in 0..<n {
            for i in 0..<g {
                for j in 0..<g {
                    for ch in 0..<c {
                        for pa in 0..<p {
                            for q in 0..<p {
                                let src: Float =
                                    ch < 2
                                    ? a[((s * 2 + ch) * size + i * p + pa) * size + j * p + q]
                                    : b[((s * 1) * size + i * p + pa) * size + j * p + q]
                                XCTAssertEqual(pt[(s * g * g + i * g + j) * c * p * p + (ch * p + pa) * p + q], src)
                            }
                        }
                    }
                }
            }
        }
        // DiT unpatchify: x.reshape(n, g, g, p, p, C) → einsum('nhwpqc->nchpwq'), keep 2 of 3 channels, + addend.
        let y = rand(n * g * g * p * p * c)
        let add = rand(n * 2 * size * size)
        var img = [Float](repeating: 0, count: n * 2 * size * size)
        Patches.unpatchify(y, outChannels: c, keep: 2, batch: n, size: size, patch: p, addend: add, out: &img)
        for s in 0..<n {
            for ch in 0..<2 {
                for h in 0..<g {
                    for pp in 0..<p {
                        for w in 0..<g {
                            for q in 0..<p {
                                let flat = ((((s * g + h) * g + w) * p + pp) * p + q) * c + ch
                                let o = ((s * 2 + ch) * size + h * p + pp) * size + w * p + q
                                XCTAssertEqual(img[o], y[flat] + add[o])
                            }
                        }
                    }
                }
            }
        }
    }

    func testPositionalEmbeddingMatchesMAEFormula() {
        let dim = 16
        let grid = 3
        let e = Embeddings.positional2D(dim: dim, grid: grid)
        // numpy: grid = meshgrid(w, h); emb_h uses grid[0] (= column index), emb_w uses grid[1] (= row index);
        // 1-D: omega = 1/10000^(arange(D/4)/(D/4)); emb = [sin(pos·omega), cos(pos·omega)].
        var ref = [Double]()
        for i in 0..<grid {
            for j in 0..<grid {
                for pos in [Double(j), Double(i)] {
                    let om = (0..<(dim / 4)).map { 1 / pow(10000, Double($0) / Double(dim / 4)) }
                    ref += om.map { sin(pos * $0) } + om.map { cos(pos * $0) }
                }
            }
        }
        XCTAssertLessThan(relErr(e, ref), 1e-6)
    }

    func testTimestepEmbeddingCosThenSin() {
        let t: [Float] = [0, 0.37, 1]
        var out = [Float](repeating: 0, count: 3 * 256)
        Embeddings.timestep(t, rows: 3, freqs: Embeddings.timestepFrequencies(), dim: 256, out: &out)
        var ref = [Double]()
        for tv in t {
            let f = (0..<128).map { exp(-log(10000.0) * Double($0) / 128) }
            ref += f.map { cos(Double(tv) * $0) } + f.map { sin(Double(tv) * $0) }
        }
        XCTAssertLessThan(relErr(out, ref), 1e-5)
    }

    func testModulateAndGatedResidual() {
        let batch = 2
        let tokens = 3
        let dim = 5
        let stride = 7
        let x = rand(batch * tokens * dim)
        let y = rand(batch * tokens * dim)
        let shift = rand(batch * stride)
        let scale = rand(batch * stride)
        let gate = rand(batch * stride)
        var m = [Float](repeating: 0, count: x.count)
        Modulation.modulate(
            x, batch: batch, tokens: tokens, dim: dim, shift: shift, scale: scale, modStride: stride, out: &m)
        var r = x
        Modulation.gatedResidual(&r, y, batch: batch, tokens: tokens, dim: dim, gate: gate, modStride: stride)
        var refM = [Double]()
        var refR = [Double]()
        for b in 0..<batch {
            for t in 0..<tokens {
                for i in 0..<dim {
                    let k = (b * tokens + t) * dim + i
                    refM.append(Double(x[k]) * (1 + Double(scale[b * stride + i])) + Double(shift[b * stride + i]))
                    refR.append(Double(x[k]) + Double(gate[b * stride + i]) * Double(y[k]))
                }
            }
        }
        XCTAssertLessThan(relErr(m, refM), 1e-6)
        XCTAssertLessThan(relErr(r, refR), 1e-6)
    }
}
