import FlowTensor
import Foundation
import XCTest

/// Per-layer gradient checks: each float32 backward kernel (FlowTensor, beside its forward) against central
/// finite differences of an independent naive float64 forward, for the scalar L = Σ w·out with random w.
final class LayerGradientTests: XCTestCase {
    var rng = SeededRandom(seed: 99)

    func randn(_ n: Int, _ s: Double = 1) -> [Double] { rng.normals(n, std: s).map(Double.init) }
    func f32(_ a: [Double]) -> [Float] { a.map(Float.init) }

    /// Compares analytic d(Σ w·f(input))/d input against central differences of the float64 `f`.
    func check(
        _ what: String, input: [Double], w: [Double], analytic: [Float], eps: Double = 1e-5, tol: Double = 1e-3,
        file: StaticString = #filePath, line: UInt = #line, _ f: ([Double]) -> [Double]
    ) {
        XCTAssertEqual(analytic.count, input.count, what, file: file, line: line)
        var x = input
        var worst = 0.0
        for i in input.indices {
            x[i] = input[i] + eps
            let lp = zip(f(x), w).reduce(0) { $0 + $1.0 * $1.1 }
            x[i] = input[i] - eps
            let lm = zip(f(x), w).reduce(0) { $0 + $1.0 * $1.1 }
            x[i] = input[i]
            let fd = (lp - lm) / (2 * eps)
            let err = abs(Double(analytic[i]) - fd) / (abs(fd) + 1e-3)
            worst = max(worst, err)
        }
        XCTAssertLessThan(worst, tol, "\(what): worst relative gradient error \(worst)", file: file, line: line)
    }

    func testLinear() {
        let rows = 3
        let inF = 5
        let outF = 4
        let x = randn(rows * inF)
        let W = randn(outF * inF)
        let b = randn(outF)
        let w = randn(rows * outF)
        func fwd(_ x: [Double], _ W: [Double], _ b: [Double]) -> [Double] {
            (0..<(rows * outF)).map { k in
                let r = k / outF
                let o = k % outF
                return b[o] + (0..<inF).reduce(0) { $0 + x[r * inF + $1] * W[o * inF + $1] }
            }
        }
        var dx = [Float](repeating: 0, count: x.count)
        var dW = [Float](repeating: 0, count: W.count)
        var db = [Float](repeating: 0, count: b.count)
        Gemm.linearBackward(
            dout: f32(w), x: f32(x), rows: rows, inF: inF, weight: f32(W), outF: outF, dx: &dx, dW: &dW, db: &db)
        check("linear dx", input: x, w: w, analytic: dx) { fwd($0, W, b) }
        check("linear dW", input: W, w: w, analytic: dW) { fwd(x, $0, b) }
        check("linear db", input: b, w: w, analytic: db) { fwd(x, W, $0) }
    }

    func testLayerNorm() {
        let rows = 3
        let dim = 6
        let x = randn(rows * dim, 2)
        let w = randn(rows * dim)
        func fwd(_ x: [Double]) -> [Double] {
            (0..<rows).flatMap { r -> [Double] in
                let s = Array(x[(r * dim)..<((r + 1) * dim)])
                let m = s.reduce(0, +) / Double(dim)
                let v = s.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(dim)
                return s.map { ($0 - m) / (v + 1e-6).squareRoot() }
            }
        }
        var xhat = [Float](repeating: 0, count: x.count)
        var rstd = [Float](repeating: 0, count: rows)
        LayerNorm.forward(f32(x), rows: rows, dim: dim, out: &xhat, rstd: &rstd)
        var dx = [Float](repeating: 0, count: x.count)
        LayerNorm.backward(dxhat: f32(w), xhat: xhat, rstd: rstd, rows: rows, dim: dim, dx: &dx, accumulate: false)
        check("layernorm dx", input: x, w: w, analytic: dx, fwd)
        // accumulate mode adds onto what is there
        var acc = [Float](repeating: 1, count: x.count)
        LayerNorm.backward(dxhat: f32(w), xhat: xhat, rstd: rstd, rows: rows, dim: dim, dx: &acc, accumulate: true)
        for i in acc.indices { XCTAssertEqual(acc[i], 1 + dx[i], accuracy: 1e-5) }
    }

    func testActivations() {
        let n = 37
        let x = randn(n, 2)
        let w = randn(n)
        var dg = [Float](repeating: 0, count: n)
        var ds = dg
        Activations.geluBackward(x: f32(x), dout: f32(w), count: n, dx: &dg)
        Activations.siluBackward(x: f32(x), dout: f32(w), count: n, dx: &ds)
        check("gelu", input: x, w: w, analytic: dg) {
            $0.map { v in 0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))) }
        }
        check("silu", input: x, w: w, analytic: ds) { $0.map { v in v / (1 + exp(-v)) } }
    }

    func testModulateAndGatedResidual() {
        let batch = 2
        let tokens = 3
        let dim = 4
        let stride = 7  // mod rows strided wider than dim
        let x = randn(batch * tokens * dim)
        let sh = randn(batch * stride)
        let sc = randn(batch * stride)
        let w = randn(batch * tokens * dim)
        func modF(_ x: [Double], _ sh: [Double], _ sc: [Double]) -> [Double] {
            (0..<(batch * tokens * dim)).map { k in
                let b = k / (tokens * dim)
                let i = k % dim
                return x[k] * (1 + sc[b * stride + i]) + sh[b * stride + i]
            }
        }
        var dx = [Float](repeating: 0, count: x.count)
        var dsh = [Float](repeating: 0, count: sh.count)
        var dsc = dsh
        Modulation.modulateBackward(
            dout: f32(w), x: f32(x), batch: batch, tokens: tokens, dim: dim, scale: f32(sc), modStride: stride,
            dx: &dx, dshift: &dsh, dscale: &dsc)
        check("modulate dx", input: x, w: w, analytic: dx) { modF($0, sh, sc) }
        check("modulate dshift", input: sh, w: w, analytic: dsh) { modF(x, $0, sc) }
        check("modulate dscale", input: sc, w: w, analytic: dsc) { modF(x, sh, $0) }

        let y = randn(batch * tokens * dim)
        let gate = randn(batch * stride)
        func gatedF(_ y: [Double], _ g: [Double]) -> [Double] {
            (0..<(batch * tokens * dim)).map { k in x[k] + g[(k / (tokens * dim)) * stride + k % dim] * y[k] }
        }
        var dy = [Float](repeating: 0, count: y.count)
        var dg = [Float](repeating: 0, count: gate.count)
        Modulation.gatedResidualBackward(
            dx: f32(w), y: f32(y), batch: batch, tokens: tokens, dim: dim, gate: f32(gate), modStride: stride,
            dy: &dy, dgate: &dg)
        check("gated residual dy", input: y, w: w, analytic: dy) { gatedF($0, gate) }
        check("gated residual dgate", input: gate, w: w, analytic: dg) { gatedF(y, $0) }
    }

    func testAttention() {
        let batch = 2
        let tokens = 5
        let heads = 2
        let hd = 3
        let d = heads * hd
        let qkv = randn(batch * tokens * 3 * d)
        let w = randn(batch * tokens * d)
        func fwd(_ a: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: batch * tokens * d)
            for b in 0..<batch {
                for h in 0..<heads {
                    for i in 0..<tokens {
                        let row = { (t: Int, part: Int, j: Int) in a[(b * tokens + t) * 3 * d + part * d + h * hd + j] }
                        let logits = (0..<tokens).map { s in
                            (0..<hd).reduce(0) { $0 + row(i, 0, $1) * row(s, 1, $1) } / Double(hd).squareRoot()
                        }
                        let mx = logits.max()!
                        let e = logits.map { exp($0 - mx) }
                        let z = e.reduce(0, +)
                        for j in 0..<hd {
                            out[(b * tokens + i) * d + h * hd + j] = (0..<tokens).reduce(0) {
                                $0 + e[$1] / z * row($1, 2, j)
                            }
                        }
                    }
                }
            }
            return out
        }
        var out = [Float](repeating: 0, count: batch * tokens * d)
        var probs = [Float](repeating: 0, count: batch * heads * tokens * tokens)
        var scratch = [Float](repeating: 0, count: tokens * tokens)
        Attention.forward(
            qkv: f32(qkv), batch: batch, tokens: tokens, heads: heads, headDim: hd, out: &out, scratch: &scratch,
            probs: &probs)
        var dqkv = [Float](repeating: 0, count: qkv.count)
        Attention.backward(
            dout: f32(w), qkv: f32(qkv), probs: probs, batch: batch, tokens: tokens, heads: heads, headDim: hd,
            dqkv: &dqkv, scratch: &scratch)
        check("attention dqkv", input: qkv, w: w, analytic: dqkv, fwd)
    }

    /// The patch-embedding weight gradient is `linearBackward` on patchified input; check it end to end
    /// against a naive stride-p convolution, and unpatchify's backward against a naive einsum.
    func testPatchEmbedAndUnpatchify() {
        let batch = 2
        let c = 2
        let size = 4
        let p = 2
        let g = size / p
        let dOut = 3
        let tokens = g * g
        let img = randn(batch * c * size * size)
        let W = randn(dOut * c * p * p)
        let w = randn(batch * tokens * dOut)
        func conv(_ W: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: batch * tokens * dOut)
            for n in 0..<batch {
                for i in 0..<g {
                    for j in 0..<g {
                        for o in 0..<dOut {
                            var s = 0.0
                            for ch in 0..<c {
                                for a in 0..<p {
                                    for q in 0..<p {
                                        s +=
                                            W[((o * c + ch) * p + a) * p + q]
                                            * img[((n * c + ch) * size + i * p + a) * size + j * p + q]
                                    }
                                }
                            }
                            out[(n * tokens + i * g + j) * dOut + o] = s
                        }
                    }
                }
            }
            return out
        }
        var patches = [Float](repeating: 0, count: batch * tokens * c * p * p)
        Patches.patchify(f32(img), channelsA: c, nil, channelsB: 0, batch: batch, size: size, patch: p, out: &patches)
        var dW = [Float](repeating: 0, count: W.count)
        Gemm.linearBackward(
            dout: f32(w), x: patches, rows: batch * tokens, inF: c * p * p, weight: f32(W), outF: dOut,
            dx: nil, dW: &dW, db: nil)
        check("patch embed dW", input: W, w: w, analytic: dW, conv)

        let cOut = 3
        let keep = 2
        let y = randn(batch * tokens * p * p * cOut)
        let wi = randn(batch * keep * size * size)
        func unp(_ y: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: batch * keep * size * size)
            for n in 0..<batch {
                for i in 0..<g {
                    for j in 0..<g {
                        for a in 0..<p {
                            for q in 0..<p {
                                for ch in 0..<keep {
                                    out[((n * keep + ch) * size + i * p + a) * size + j * p + q] =
                                        y[(n * tokens + i * g + j) * p * p * cOut + (a * p + q) * cOut + ch]
                                }
                            }
                        }
                    }
                }
            }
            return out
        }
        var dy = [Float](repeating: 7, count: y.count)
        Patches.unpatchifyBackward(
            dout: f32(wi), outChannels: cOut, keep: keep, batch: batch, size: size, patch: p, dy: &dy)
        check("unpatchify dy", input: y, w: wi, analytic: dy, unp)
    }

    func testLabelTable() {
        let rows = 4
        let dim = 3
        let classes = 3
        let table = randn(classes * dim)
        let w = randn(rows * dim)
        let labels: [Int32] = [2, 0, 2, 1]
        func fwd(_ t: [Double]) -> [Double] { (0..<(rows * dim)).map { k in t[Int(labels[k / dim]) * dim + k % dim] } }
        var dT = [Float](repeating: 0, count: table.count)
        Embeddings.tableBackward(dout: f32(w), labels: labels, rows: rows, dim: dim, dTable: &dT)
        check("label table", input: table, w: w, analytic: dT, fwd)
    }

    /// A plausible but wrong LayerNorm backward (missing the variance term) must fail the same check.
    func testCheckRejectsBrokenLayerNormBackward() {
        let rows = 2
        let dim = 5
        let x = randn(rows * dim, 2)
        let w = randn(rows * dim)
        var xhat = [Float](repeating: 0, count: x.count)
        var rstd = [Float](repeating: 0, count: rows)
        LayerNorm.forward(f32(x), rows: rows, dim: dim, out: &xhat, rstd: &rstd)
        var broken = [Float](repeating: 0, count: x.count)
        for r in 0..<rows {
            let m = (0..<dim).reduce(Float(0)) { $0 + Float(w[r * dim + $1]) } / Float(dim)
            for i in 0..<dim { broken[r * dim + i] = rstd[r] * (Float(w[r * dim + i]) - m) }
        }
        var worst = 0.0
        for i in x.indices {
            var xp = x
            var xm = x
            xp[i] += 1e-5
            xm[i] -= 1e-5
            func ln(_ v: [Double]) -> Double {
                (0..<rows).reduce(0.0) { acc, r in
                    let s = Array(v[(r * dim)..<((r + 1) * dim)])
                    let m = s.reduce(0, +) / Double(dim)
                    let va = s.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(dim)
                    return acc + (0..<dim).reduce(0) { $0 + (s[$1] - m) / (va + 1e-6).squareRoot() * w[r * dim + $1] }
                }
            }
            let fd = (ln(xp) - ln(xm)) / 2e-5
            worst = max(worst, abs(Double(broken[i]) - fd) / (abs(fd) + 1e-3))
        }
        XCTAssertGreaterThan(worst, 1e-2, "the check should reject a LayerNorm backward without the variance term")
    }
}
