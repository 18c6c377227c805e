import FlowTensor
import FlowTestSupport
import XCTest

@testable import FlowModels
@testable import FlowTraining

/// Whole-model gradient checks: the float32 backward of `SiTTrainer` against central finite differences
/// of an independent float64 forward (`ReferenceSiT`) of the same MSE loss.
final class SiTGradientTests: XCTestCase {
    struct Problem {
        let cfg: SiTConfig
        let rows: Int
        let x: [Float], v: [Float]?, target: [Float], t: [Float], y: [Int32]
    }

    static func tinyConfig(refiner: Bool, learnSigma: Bool) -> SiTConfig {
        var c = SiTConfig(
            inputSize: 4, patchSize: 2, inChannels: 2, hiddenSize: 8, depth: refiner ? 1 : 2, numHeads: 2,
            mlpRatio: 2, numClasses: 3, learnSigma: learnSigma, isRefiner: refiner)
        c.frequencyEmbeddingSize = 12
        return c
    }

    static func problem(_ cfg: SiTConfig, seed: UInt64) -> Problem {
        var rng = SeededRandom(seed: seed)
        let rows = 3
        let n = rows * cfg.sampleSize
        return Problem(
            cfg: cfg, rows: rows, x: rng.normals(n), v: cfg.isRefiner ? rng.normals(n) : nil,
            target: rng.normals(n), t: [0.13, 0.57, 0.91], y: [0, 2, 3])
    }

    /// float64 loss mean((f(x) − target)²) with the reference.
    static func referenceLoss(_ ref: ReferenceSiT, _ pr: Problem) -> Double {
        let c = pr.cfg
        let s = c.inputSize
        let C = c.inChannels
        func img(_ a: [Float], _ r: Int) -> [[[Double]]] {
            (0..<C).map { ch in (0..<s).map { i in (0..<s).map { j in Double(a[((r * C + ch) * s + i) * s + j]) } } }
        }
        var loss = 0.0
        for r in 0..<pr.rows {
            let out = ref.forward(x: img(pr.x, r), t: Double(pr.t[r]), y: Int(pr.y[r]), v: pr.v.map { img($0, r) })
            for ch in 0..<C {
                for i in 0..<s {
                    for j in 0..<s {
                        let e = out[ch][i][j] - Double(pr.target[((r * C + ch) * s + i) * s + j])
                        loss += e * e
                    }
                }
            }
        }
        return loss / Double(pr.x.count)
    }

    /// Runs the trainer's forward + backward; returns (loss, gradients by name).
    static func analytic(_ w: SiTWeights, _ pr: Problem) -> (Double, [String: [Float]]) {
        let tr = SiTTrainer(weights: w, maxRows: pr.rows)
        var out = [Float](repeating: 0, count: pr.x.count)
        var dout = out
        pr.x.withUnsafeBufferPointer { xp in
            pr.t.withUnsafeBufferPointer { tp in
                pr.y.withUnsafeBufferPointer { yp in
                    out.withUnsafeMutableBufferPointer { op in
                        if let v = pr.v {
                            v.withUnsafeBufferPointer { vp in
                                tr.forward(
                                    x: xp.baseAddress!, v: vp.baseAddress!, t: tp.baseAddress!, labels: yp.baseAddress!,
                                    rows: pr.rows, out: op.baseAddress!)
                            }
                        } else {
                            tr.forward(
                                x: xp.baseAddress!, v: nil, t: tp.baseAddress!, labels: yp.baseAddress!, rows: pr.rows,
                                out: op.baseAddress!)
                        }
                    }
                }
            }
        }
        let loss = SiTTrainer.mseLoss(out: out, target: pr.target, count: out.count, dout: &dout)
        tr.zeroGrads()
        tr.backward(dout: dout)
        var g: [String: [Float]] = [:]
        for p in tr.parameters { g[p.name] = p.grad.array }
        return (loss, g)
    }

    /// Checks every parameter tensor at a few coordinates (largest-gradient one plus random ones).
    /// Returns the failures as text; `scaleTensor` multiplies one tensor's analytic gradient (to prove
    /// the check catches a wrong backward).
    static func check(
        _ cfg: SiTConfig, seed: UInt64, perTensor: Int = 3, scaleTensor: (String, Float)? = nil
    ) -> (checked: Int, failures: [String]) {
        let model = SiTModel(weights: SiTWeights(config: cfg))
        model.weights.randomize(seed: seed, std: 0.4)
        let pr = problem(cfg, seed: seed + 1)
        var (_, grads) = analytic(model.weights, pr)
        if let (n, s) = scaleTensor { grads[n] = grads[n]!.map { $0 * s } }
        var ref = ReferenceSiT(model)
        let eps = 1e-4
        var rng = SeededRandom(seed: seed + 2)
        var failures: [String] = []
        var checked = 0
        for (name, _, buf) in model.weights.named where name != "pos_embed" {
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
        XCTAssertGreaterThan(r.checked, 80)
        XCTAssertEqual(r.failures, [])
    }

    func testLearnSigmaPredictorGradientsMatchFiniteDifferences() {
        let r = Self.check(Self.tinyConfig(refiner: false, learnSigma: true), seed: 21, perTensor: 1)
        XCTAssertEqual(r.failures, [])
    }

    func testRefinerGradientsMatchFiniteDifferences() {
        let r = Self.check(Self.tinyConfig(refiner: true, learnSigma: false), seed: 31)
        XCTAssertEqual(r.failures, [])
    }

    /// A backward that is off by 3% in one tensor (the first block's MLP gate path) must be caught.
    func testCheckCatchesAWrongBackward() {
        let cfg = Self.tinyConfig(refiner: false, learnSigma: false)
        for name in ["blocks.0.adaLN_modulation.1.weight", "t_embedder.mlp.0.bias", "blocks.1.attn.qkv.weight"] {
            let r = Self.check(cfg, seed: 11, perTensor: 0, scaleTensor: (name, 1.03))
            XCTAssertTrue(r.failures.contains { $0.hasPrefix(name) }, "a 3% error in \(name) went unnoticed")
        }
    }

    /// The training forward computes the same function as the inference evaluator.
    func testTrainingForwardMatchesEvaluator() throws {
        for cfg in [
            Self.tinyConfig(refiner: false, learnSigma: true), Self.tinyConfig(refiner: true, learnSigma: false),
        ] {
            let model = SiTModel(weights: SiTWeights(config: cfg))
            model.weights.randomize(seed: 5, std: 0.3)
            let pr = Self.problem(cfg, seed: 6)
            let ref = try model.forward(
                x: Tensor(shape: [pr.rows] + model.sampleShape, data: pr.x), t: pr.t, y: pr.y,
                v: pr.v.map { Tensor(shape: [pr.rows] + model.sampleShape, data: $0) })
            let tr = SiTTrainer(weights: model.weights, maxRows: 4)
            var out = [Float](repeating: 0, count: pr.x.count)
            tr.forward(x: pr.x, v: pr.v, t: pr.t, labels: pr.y, rows: pr.rows, out: &out)
            for i in out.indices { XCTAssertEqual(out[i], ref.data[i], accuracy: 1e-5) }
        }
    }
}
