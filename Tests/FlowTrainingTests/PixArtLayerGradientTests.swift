import FlowTensor
import Foundation
import XCTest

/// Gradient checks of the PixArt-α layers' float32 backward kernels (FlowTensor, beside their forwards) against
/// central differences of independent naive float64 forwards, for L = Σ w·out with random w: masked cross-attention
/// (q_linear, kv_linear, proj, image tokens and caption tokens), adaLN-single (t_block + scale_shift_table feeding
/// modulate and the gate) and the caption projection MLP.
final class PixArtLayerGradientTests: XCTestCase {
    var rng = SeededRandom(seed: 7)

    func randn(_ n: Int, _ s: Double = 1) -> [Double] { rng.normals(n, std: s).map(Double.init) }
    func f32(_ a: [Double]) -> [Float] { a.map(Float.init) }
    func zeros(_ n: Int) -> [Float] { [Float](repeating: 0, count: n) }

    func check(
        _ what: String, input: [Double], w: [Double], analytic: [Float], eps: Double = 1e-5, tol: Double = 2e-3,
        file: StaticString = #filePath, line: UInt = #line, _ f: ([Double]) -> [Double]
    ) {
        XCTAssertEqual(analytic.count, input.count, what, file: file, line: line)
        var x = input
        var worst = 0.0
        var largest = 0.0
        for i in input.indices {
            x[i] = input[i] + eps
            let lp = zip(f(x), w).reduce(0) { $0 + $1.0 * $1.1 }
            x[i] = input[i] - eps
            let lm = zip(f(x), w).reduce(0) { $0 + $1.0 * $1.1 }
            x[i] = input[i]
            let fd = (lp - lm) / (2 * eps)
            worst = max(worst, abs(Double(analytic[i]) - fd) / (abs(fd) + 1e-3))
            largest = max(largest, abs(fd))
        }
        XCTAssertGreaterThan(largest, 1e-4, "\(what): gradient is identically zero", file: file, line: line)
        XCTAssertLessThan(worst, tol, "\(what): worst relative gradient error \(worst)", file: file, line: line)
    }

    /// rows × [inF] · Wᵀ + b in float64.
    func linear64(_ x: [Double], rows: Int, inF: Int, _ W: [Double], _ b: [Double]) -> [Double] {
        let outF = b.count
        return (0..<(rows * outF)).map { k in
            let r = k / outF
            let o = k % outF
            return b[o] + (0..<inF).reduce(0) { $0 + x[r * inF + $1] * W[o * inF + $1] }
        }
    }

    func testMaskedCrossAttention() {
        let batch = 2
        let tokens = 3
        let heads = 2
        let hd = 2
        let d = heads * hd
        let len = 4
        let mask = [[1, 1, 0, 1], [0, 1, 1, 0]]
        let x = randn(batch * tokens * d)
        let y = randn(batch * len * d)
        let wq = randn(d * d, 0.7)
        let bq = randn(d, 0.3)
        let wkv = randn(2 * d * d, 0.7)
        let bkv = randn(2 * d, 0.3)
        let wp = randn(d * d, 0.7)
        let bp = randn(d, 0.3)
        let w = randn(batch * tokens * d)
        // float64 reference: every query of item b attends to item b's tokens with mask 1 (−∞ bias elsewhere)
        func fwd(
            _ x: [Double], _ y: [Double], _ wq: [Double], _ bq: [Double], _ wkv: [Double], _ bkv: [Double],
            _ wp: [Double], _ bp: [Double]
        ) -> [Double] {
            let q = linear64(x, rows: batch * tokens, inF: d, wq, bq)
            let kv = linear64(y, rows: batch * len, inF: d, wkv, bkv)
            var a = [Double](repeating: 0, count: batch * tokens * d)
            for b in 0..<batch {
                for h in 0..<heads {
                    for i in 0..<tokens {
                        let qi = (b * tokens + i) * d + h * hd
                        let logits = (0..<len).map { s -> Double in
                            guard mask[b][s] == 1 else { return -Double.infinity }
                            let ks = (b * len + s) * 2 * d + h * hd
                            return (0..<hd).reduce(0) { $0 + q[qi + $1] * kv[ks + $1] } / Double(hd).squareRoot()
                        }
                        let mx = logits.max()!
                        let e = logits.map { Foundation.exp($0 - mx) }
                        let z = e.reduce(0, +)
                        for j in 0..<hd {
                            a[qi + j] = (0..<len).reduce(0) {
                                $0 + e[$1] / z * kv[(b * len + $1) * 2 * d + d + h * hd + j]
                            }
                        }
                    }
                }
            }
            return linear64(a, rows: batch * tokens, inF: d, wp, bp)
        }
        // float32 fast path: pack the real caption tokens, forward with saved probabilities, then backward
        let real = (0..<batch).flatMap { b in (0..<len).filter { mask[b][$0] == 1 }.map { b * len + $0 } }
        let n = real.count
        let yv = real.flatMap { Array(y[($0 * d)..<(($0 + 1) * d)]) }
        let offsets = [0, mask[0].reduce(0, +)]
        let lengths = mask.map { $0.reduce(0, +) }
        var q = zeros(batch * tokens * d)
        var kv = zeros(n * 2 * d)
        var a = zeros(batch * tokens * d)
        var probs = zeros(CrossAttention.probsCount(batch: batch, tokens: tokens, heads: heads, maxKeys: len))
        var scratch = zeros(CrossAttention.scratchCount(tokens: tokens, maxKeys: len))
        Gemm.linear(f32(x), rows: batch * tokens, inF: d, weight: f32(wq), bias: f32(bq), outF: d, out: &q)
        Gemm.linear(f32(yv), rows: n, inF: d, weight: f32(wkv), bias: f32(bkv), outF: 2 * d, out: &kv)
        CrossAttention.forward(
            q: q, kv: kv, offsets: offsets, lengths: lengths, batch: batch, tokens: tokens,
            heads: heads, headDim: hd, out: &a, scratch: &scratch, probs: &probs)
        var out = zeros(batch * tokens * d)
        Gemm.linear(a, rows: batch * tokens, inF: d, weight: f32(wp), bias: f32(bp), outF: d, out: &out)
        let ref = fwd(x, y, wq, bq, wkv, bkv, wp, bp)
        for i in out.indices { XCTAssertEqual(Double(out[i]), ref[i], accuracy: 1e-5 * max(1, abs(ref[i]))) }
        var dwp = zeros(d * d)
        var dbp = zeros(d)
        var da = zeros(a.count)
        Gemm.linearBackward(
            dout: f32(w), x: a, rows: batch * tokens, inF: d, weight: f32(wp), outF: d, dx: &da,
            dW: &dwp, db: &dbp)
        var dq = zeros(q.count)
        var dkv = zeros(kv.count)
        CrossAttention.backward(
            dout: da, q: q, kv: kv, probs: probs, offsets: offsets, lengths: lengths, batch: batch,
            tokens: tokens, heads: heads, headDim: hd, dq: &dq, dkv: &dkv, scratch: &scratch)
        var dwq = zeros(d * d)
        var dbq = zeros(d)
        var dx = zeros(x.count)
        Gemm.linearBackward(
            dout: dq, x: f32(x), rows: batch * tokens, inF: d, weight: f32(wq), outF: d, dx: &dx,
            dW: &dwq, db: &dbq)
        var dwkv = zeros(2 * d * d)
        var dbkv = zeros(2 * d)
        var dyv = zeros(n * d)
        Gemm.linearBackward(
            dout: dkv, x: f32(yv), rows: n, inF: d, weight: f32(wkv), outF: 2 * d, dx: &dyv,
            dW: &dwkv, db: &dbkv)
        var dy = zeros(y.count)  // padded tokens get no gradient
        for (k, row) in real.enumerated() { for j in 0..<d { dy[row * d + j] = dyv[k * d + j] } }
        check("cross-attn x", input: x, w: w, analytic: dx) { fwd($0, y, wq, bq, wkv, bkv, wp, bp) }
        check("cross-attn caption", input: y, w: w, analytic: dy) { fwd(x, $0, wq, bq, wkv, bkv, wp, bp) }
        check("q_linear W", input: wq, w: w, analytic: dwq) { fwd(x, y, $0, bq, wkv, bkv, wp, bp) }
        check("q_linear b", input: bq, w: w, analytic: dbq, tol: 5e-3) { fwd(x, y, wq, $0, wkv, bkv, wp, bp) }
        check("kv_linear W", input: wkv, w: w, analytic: dwkv) { fwd(x, y, wq, bq, $0, bkv, wp, bp) }
        check("kv_linear b", input: bkv, w: w, analytic: dbkv) { fwd(x, y, wq, bq, wkv, $0, wp, bp) }
        check("proj W", input: wp, w: w, analytic: dwp) { fwd(x, y, wq, bq, wkv, bkv, $0, bp) }
        check("proj b", input: bp, w: w, analytic: dbp) { fwd(x, y, wq, bq, wkv, bkv, wp, $0) }
    }

    func testAdaLNSingleModulation() {
        // out = x + gate·(x·(1 + scale) + shift), (shift, scale, gate) = chunks 0..2 of table + t_block(SiLU(t_emb))
        let batch = 2
        let tokens = 3
        let d = 4
        let w6 = 6 * d
        let x = randn(batch * tokens * d)
        let temb = randn(batch * d)
        let tw = randn(w6 * d, 0.5)
        let tb = randn(w6, 0.3)
        let table = randn(w6, 0.5)
        let w = randn(batch * tokens * d)
        func fwd(_ temb: [Double], _ tw: [Double], _ tb: [Double], _ table: [Double]) -> [Double] {
            let t0 = linear64(temb.map { $0 / (1 + Foundation.exp(-$0)) }, rows: batch, inF: d, tw, tb)
            return (0..<(batch * tokens * d)).map { k in
                let b = k / (tokens * d)
                let i = k % d
                let m = { (c: Int) in table[c * d + i] + t0[b * w6 + c * d + i] }
                return x[k] + m(2) * (x[k] * (1 + m(1)) + m(0))
            }
        }
        var silu = f32(temb)
        var t0 = zeros(batch * w6)
        var mods = zeros(batch * w6)
        Activations.silu(&silu, count: silu.count)
        Gemm.linear(silu, rows: batch, inF: d, weight: f32(tw), bias: f32(tb), outF: w6, out: &t0)
        AdaLNSingle.forward(t0: t0, t0Stride: w6, table: f32(table), rows: batch, width: w6, out: &mods, outStride: w6)
        var z = zeros(x.count)
        var out = f32(x)
        mods.withUnsafeBufferPointer { m in
            let p = m.baseAddress!
            Modulation.modulate(
                f32(x), batch: batch, tokens: tokens, dim: d, shift: p, scale: p + d, modStride: w6,
                out: &z)
            Modulation.gatedResidual(&out, z, batch: batch, tokens: tokens, dim: d, gate: p + 2 * d, modStride: w6)
        }
        let ref = fwd(temb, tw, tb, table)
        for i in out.indices { XCTAssertEqual(Double(out[i]), ref[i], accuracy: 1e-5 * max(1, abs(ref[i]))) }
        var dmods = zeros(batch * w6)
        var dz = zeros(z.count)
        var dx = zeros(x.count)
        mods.withUnsafeBufferPointer { m in
            dmods.withUnsafeMutableBufferPointer { g in
                let p = m.baseAddress!
                let dp = g.baseAddress!
                Modulation.gatedResidualBackward(
                    dx: f32(w), y: z, batch: batch, tokens: tokens, dim: d,
                    gate: p + 2 * d,
                    modStride: w6, dy: &dz, dgate: dp + 2 * d)
                Modulation.modulateBackward(
                    dout: dz, x: f32(x), batch: batch, tokens: tokens, dim: d, scale: p + d,
                    modStride: w6, dx: &dx, dshift: dp, dscale: dp + d)
            }
        }
        var dtable = zeros(w6)
        var dt0 = zeros(batch * w6)
        AdaLNSingle.backward(
            dout: dmods, doutStride: w6, rows: batch, width: w6, dtable: &dtable, dt0: &dt0,
            dt0Stride: w6)
        var dtw = zeros(tw.count)
        var dtb = zeros(w6)
        var dsilu = zeros(batch * d)
        var dtemb = zeros(batch * d)
        Gemm.linearBackward(
            dout: dt0, x: silu, rows: batch, inF: d, weight: f32(tw), outF: w6, dx: &dsilu,
            dW: &dtw, db: &dtb)
        Activations.siluBackward(x: f32(temb), dout: dsilu, count: dsilu.count, dx: &dtemb)
        // chunks 3..5 (the MLP's) are unused here: their gradient must be exactly zero
        for b in 0..<batch { for i in (3 * d)..<w6 { XCTAssertEqual(dt0[b * w6 + i], 0) } }
        check("scale_shift_table", input: Array(table[0..<(3 * d)]), w: w, analytic: Array(dtable[0..<(3 * d)])) {
            fwd(temb, tw, tb, $0 + Array(table[(3 * d)...]))
        }
        check("t_block W", input: tw, w: w, analytic: dtw, tol: 5e-3) { fwd(temb, $0, tb, table) }
        check("t_block b", input: Array(tb[0..<(3 * d)]), w: w, analytic: Array(dtb[0..<(3 * d)])) {
            fwd(temb, tw, $0 + Array(tb[(3 * d)...]), table)
        }
        check("t_emb", input: temb, w: w, analytic: dtemb) { fwd($0, tw, tb, table) }
    }

    func testCaptionProjectionMLP() {
        // y = fc2(GELU_tanh(fc1(caption)))   [n, C_caption] → [n, D] → [n, D]
        let n = 5
        let cc = 6
        let d = 4
        let cap = randn(n * cc)
        let w1 = randn(d * cc, 0.6)
        let b1 = randn(d, 0.3)
        let w2 = randn(d * d, 0.6)
        let b2 = randn(d, 0.3)
        let w = randn(n * d)
        func gelu(_ v: Double) -> Double {
            0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
        }
        func fwd(_ cap: [Double], _ w1: [Double], _ b1: [Double], _ w2: [Double], _ b2: [Double]) -> [Double] {
            linear64(linear64(cap, rows: n, inF: cc, w1, b1).map(gelu), rows: n, inF: d, w2, b2)
        }
        var pre = zeros(n * d)
        var act = zeros(n * d)
        var y = zeros(n * d)
        Gemm.linear(f32(cap), rows: n, inF: cc, weight: f32(w1), bias: f32(b1), outF: d, out: &pre)
        Activations.gelu(pre, count: pre.count, out: &act)
        Gemm.linear(act, rows: n, inF: d, weight: f32(w2), bias: f32(b2), outF: d, out: &y)
        let ref = fwd(cap, w1, b1, w2, b2)
        for i in y.indices { XCTAssertEqual(Double(y[i]), ref[i], accuracy: 1e-5 * max(1, abs(ref[i]))) }
        var dw2 = zeros(w2.count)
        var db2 = zeros(d)
        var dact = zeros(n * d)
        Gemm.linearBackward(
            dout: f32(w), x: act, rows: n, inF: d, weight: f32(w2), outF: d, dx: &dact, dW: &dw2,
            db: &db2)
        var dpre = zeros(n * d)
        Activations.geluBackward(x: pre, dout: dact, count: dact.count, dx: &dpre)
        var dw1 = zeros(w1.count)
        var db1 = zeros(d)
        var dcap = zeros(cap.count)
        Gemm.linearBackward(
            dout: dpre, x: f32(cap), rows: n, inF: cc, weight: f32(w1), outF: d, dx: &dcap,
            dW: &dw1, db: &db1)
        check("y_proj.fc1 W", input: w1, w: w, analytic: dw1) { fwd(cap, $0, b1, w2, b2) }
        check("y_proj.fc1 b", input: b1, w: w, analytic: db1) { fwd(cap, w1, $0, w2, b2) }
        check("y_proj.fc2 W", input: w2, w: w, analytic: dw2) { fwd(cap, w1, b1, $0, b2) }
        check("y_proj.fc2 b", input: b2, w: w, analytic: db2) { fwd(cap, w1, b1, w2, $0) }
        check("caption", input: cap, w: w, analytic: dcap) { fwd($0, w1, b1, w2, b2) }
    }
}
