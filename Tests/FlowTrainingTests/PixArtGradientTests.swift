import FlowTensor
import FlowTestSupport
import XCTest

@testable import FlowModels
@testable import FlowTraining

/// Whole-model gradient checks: the float32 backward of `PixArtTrainer` against central finite differences of the
/// independent float64 forward (`ReferencePixArt`) of the same MSE loss, with padded captions and a null-caption row.
final class PixArtGradientTests: XCTestCase {
    struct Problem {
        let cfg: PixArtConfig
        let rows: Int, length: Int, captionRows: Int
        let x: [Float], v: [Float]?, target: [Float], t: [Float], captions: [Float], mask: [Int32]
    }

    static func tinyConfig(refiner: Bool, learnSigma: Bool) -> PixArtConfig {
        var c = PixArtConfig(
            inputSize: 4, patchSize: 2, inChannels: 2, hiddenSize: 8, depth: refiner ? 1 : 2,
            numHeads: 2, mlpRatio: 2, captionChannels: 3, captionTokens: 3, learnSigma: learnSigma,
            isRefiner: refiner)
        c.frequencyEmbeddingSize = 12
        return c
    }

    static func problem(_ cfg: PixArtConfig, seed: UInt64) -> Problem {
        var rng = SeededRandom(seed: seed)
        let rows = 3
        let n = rows * cfg.sampleSize
        let l = 4
        return Problem(
            cfg: cfg, rows: rows, length: l, captionRows: 2, x: rng.normals(n),
            v: cfg.isRefiner ? rng.normals(n) : nil, target: rng.normals(n), t: [0.13, 0.57, 0.91],
            captions: rng.normals(rows * l * cfg.captionChannels),
            mask: [
                1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1,
                1,
            ])
    }

    /// float64 loss mean((f(x) − target)²) with the reference; rows ≥ captionRows use y_embedding, all real.
    static func referenceLoss(_ ref: ReferencePixArt, _ pr: Problem) -> Double {
        let c = pr.cfg
        let s = c.inputSize
        let ch = c.inChannels
        let cc = c.captionChannels
        func img(_ a: [Float], _ r: Int) -> [[[Double]]] {
            (0..<ch).map { k in (0..<s).map { i in (0..<s).map { j in Double(a[((r * ch + k) * s + i) * s + j]) } } }
        }
        let null = ref.p["y_embedder.y_embedding"]!
        var loss = 0.0
        for r in 0..<pr.rows {
            let isNull = r >= pr.captionRows
            let l = isNull ? c.captionTokens : pr.length
            let caption = (0..<l).map { j in
                (0..<cc).map { k in isNull ? null[j * cc + k] : Double(pr.captions[(r * pr.length + j) * cc + k]) }
            }
            let mask = isNull ? [Int](repeating: 1, count: l) : (0..<l).map { Int(pr.mask[r * pr.length + $0]) }
            let out = ref.forward(
                x: img(pr.x, r), t: Double(pr.t[r]), caption: caption, mask: mask,
                v: pr.v.map { img($0, r) })
            for k in 0..<ch {
                for i in 0..<s {
                    for j in 0..<s {
                        let e = out[k][i][j] - Double(pr.target[((r * ch + k) * s + i) * s + j])
                        loss += e * e
                    }
                }
            }
        }
        return loss / Double(pr.x.count)
    }

    static func trainerForward(_ tr: PixArtTrainer, _ pr: Problem) -> [Float] {
        var out = [Float](repeating: 0, count: pr.x.count)
        tr.forward(
            x: pr.x, v: pr.v, t: pr.t, captions: pr.captions, mask: pr.mask, length: pr.length,
            captionRows: pr.captionRows, rows: pr.rows, out: &out)
        return out
    }

    /// Runs the trainer's forward + backward; returns the gradients by name.
    static func analytic(_ w: PixArtWeights, _ pr: Problem) -> [String: [Float]] {
        let tr = PixArtTrainer(weights: w, maxRows: pr.rows, maxCaptionLength: pr.length)
        let out = trainerForward(tr, pr)
        var dout = out
        _ = SiTTrainer.mseLoss(out: out, target: pr.target, count: out.count, dout: &dout)
        tr.zeroGrads()
        tr.backward(dout: dout)
        var g: [String: [Float]] = [:]
        for p in tr.parameters { g[p.name] = p.grad.array }
        return g
    }

    /// Checks every trainable tensor at its largest-gradient coordinate plus `perTensor` random ones; `scaleTensor`
    /// multiplies one tensor's analytic gradient (to prove the check catches a wrong backward).
    static func check(
        _ cfg: PixArtConfig, seed: UInt64, perTensor: Int = 3, scaleTensor: (String, Float)? = nil
    )
        -> (checked: Int, failures: [String])
    {
        let model = PixArtModel(weights: PixArtWeights(config: cfg))
        model.weights.randomize(seed: seed, std: 0.4)
        let pr = problem(cfg, seed: seed + 1)
        var grads = analytic(model.weights, pr)
        if let (n, s) = scaleTensor { grads[n] = grads[n]!.map { $0 * s } }
        var ref = ReferencePixArt(model)
        let eps = 1e-4
        var rng = SeededRandom(seed: seed + 2)
        var failures: [String] = []
        var checked = 0
        for (name, _, buf) in model.weights.named where !PixArtTrainer.frozen.contains(name) {
            let g = grads[name]!
            let imax = g.indices.max { abs(g[$0]) < abs(g[$1]) }!
            var idx = [imax]
            for _ in 0..<perTensor { idx.append(Int(rng.next() % UInt64(buf.count))) }
            for i in idx {
                let orig = ref.p[name]![i]
                ref.p[name]![i] = orig + eps
                let lp = referenceLoss(ref, pr)
                ref.p[name]![i] = orig - eps
                let lm = referenceLoss(ref, pr)
                ref.p[name]![i] = orig
                let fd = (lp - lm) / (2 * eps)
                let an = Double(g[i])
                checked += 1
                if abs(an - fd) > 2e-3 * abs(fd) + 2e-6 {
                    failures.append("\(name)[\(i)]: analytic \(an) vs finite difference \(fd)")
                }
            }
        }
        return (checked, failures)
    }

    func testPredictorGradientsMatchFiniteDifferences() {
        let r = Self.check(Self.tinyConfig(refiner: false, learnSigma: false), seed: 11)
        XCTAssertGreaterThan(r.checked, 150)
        XCTAssertEqual(r.failures, [])
    }

    func testPredSigmaPredictorGradientsMatchFiniteDifferences() {
        let r = Self.check(Self.tinyConfig(refiner: false, learnSigma: true), seed: 21, perTensor: 1)
        XCTAssertEqual(r.failures, [])
    }

    func testRefinerGradientsMatchFiniteDifferences() {
        let r = Self.check(Self.tinyConfig(refiner: true, learnSigma: false), seed: 31)
        XCTAssertEqual(r.failures, [])
    }

    /// A backward off by 3% in one tensor must be caught (cross-attention K/V, adaLN-single table, caption MLP).
    func testCheckCatchesAWrongBackward() {
        let cfg = Self.tinyConfig(refiner: false, learnSigma: false)
        for name in [
            "blocks.0.cross_attn.kv_linear.weight", "blocks.1.scale_shift_table", "y_embedder.y_proj.fc1.bias",
            "final_layer.scale_shift_table",
        ] {
            let r = Self.check(cfg, seed: 11, perTensor: 0, scaleTensor: (name, 1.03))
            XCTAssertTrue(r.failures.contains { $0.hasPrefix(name) }, "a 3% error in \(name) went unnoticed")
        }
    }

    /// The training forward computes the same function as the inference evaluator.
    func testTrainingForwardMatchesEvaluator() throws {
        for cfg in [
            Self.tinyConfig(refiner: false, learnSigma: true),
            Self.tinyConfig(
                refiner: true,
                learnSigma: false),
        ] {
            let model = PixArtModel(weights: PixArtWeights(config: cfg))
            model.weights.randomize(seed: 5, std: 0.3)
            let pr = Self.problem(cfg, seed: 6)
            let ev = PixArtEvaluator(model: model, maxRows: pr.rows, times: [], maxCaptionLength: pr.length)
            var want = [Float](repeating: 0, count: pr.x.count)
            ev.setCaptions(
                features: pr.captions, mask: pr.mask, length: pr.length, captionRows: pr.captionRows,
                rows: pr.rows)
            if let v = pr.v {
                ev.forward(x: pr.x, v: v, t: pr.t, out: &want)
            } else {
                ev.forward(x: pr.x, v: nil, t: pr.t, out: &want)
            }
            let got = Self.trainerForward(PixArtTrainer(weights: model.weights, maxRows: 4, maxCaptionLength: 6), pr)
            for i in got.indices { XCTAssertEqual(got[i], want[i], accuracy: 1e-5) }
        }
    }
}
