import FlowTensor
import FlowTestSupport
import XCTest

@testable import FlowModels

final class SiTForwardTests: XCTestCase {
    func makeModel(_ cfg: SiTConfig, seed: UInt64, std: Double = 0.15) -> SiTModel {
        let w = SiTWeights(config: cfg)
        w.randomize(seed: seed, std: std)
        return SiTModel(weights: w)
    }

    func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        var r = SeededRandom(seed: seed)
        return Tensor(shape: shape, data: r.normals(shape.reduce(1, *)))
    }

    /// Max |fast − ref| / max |ref| over a batch, comparing with the float64 reference row by row.
    func relativeError(_ model: SiTModel, rows: Int, seed: UInt64) throws -> Double {
        let cfg = model.config
        let shape = [rows, cfg.inChannels, cfg.inputSize, cfg.inputSize]
        let x = randomTensor(shape, seed: seed)
        let v = cfg.isRefiner ? randomTensor(shape, seed: seed + 1) : nil
        let t: [Float] = (0..<rows).map { Float($0 + 1) / Float(rows + 1) }
        let y: [Int32] = (0..<rows).map { Int32($0 % (cfg.numClasses + 1)) }  // includes the null class
        let fast = try model.forward(x: x, t: t, y: y, v: v)
        let ref = ReferenceSiT(model)
        let s = cfg.inputSize
        let c = cfg.inChannels
        var maxErr = 0.0
        var maxRef = 0.0
        func img(_ tns: Tensor, _ n: Int) -> [[[Double]]] {
            (0..<c).map { ch in
                (0..<s).map { i in (0..<s).map { j in Double(tns.data[((n * c + ch) * s + i) * s + j]) } }
            }
        }
        for n in 0..<rows {
            let r = ref.forward(x: img(x, n), t: Double(t[n]), y: Int(y[n]), v: v.map { img($0, n) })
            for ch in 0..<c {
                for i in 0..<s {
                    for j in 0..<s {
                        let a = Double(fast.data[((n * c + ch) * s + i) * s + j])
                        let b = r[ch][i][j]
                        maxErr = max(maxErr, abs(a - b))
                        maxRef = max(maxRef, abs(b))
                    }
                }
            }
        }
        XCTAssertGreaterThan(maxRef, 1e-3, "reference output is degenerate")
        return maxErr / maxRef
    }

    func testPredictorMatchesFloat64ReferenceWithThreeHeadsAndLearnSigma() throws {
        let cfg = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 2, numHeads: 3,
            numClasses: 5, learnSigma: true, isRefiner: false)
        let err = try relativeError(makeModel(cfg, seed: 1), rows: 3, seed: 10)
        XCTAssertLessThan(err, 1e-5)
    }

    func testPredictorWithoutLearnSigmaPatch4() throws {
        let cfg = SiTConfig(
            inputSize: 12, patchSize: 4, inChannels: 1, hiddenSize: 16, depth: 3, numHeads: 2,
            numClasses: 3, learnSigma: false, isRefiner: false)
        XCTAssertLessThan(try relativeError(makeModel(cfg, seed: 2), rows: 2, seed: 20), 1e-5)
    }

    func testRefinerMatchesFloat64Reference() throws {
        for sigma in [false, true] {
            let cfg = SiTConfig(
                inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 2, numHeads: 3,
                numClasses: 4, learnSigma: sigma, isRefiner: true)
            XCTAssertLessThan(
                try relativeError(makeModel(cfg, seed: 3), rows: 2, seed: 30), 1e-5, "learnSigma \(sigma)")
        }
    }

    func testRefinerWithZeroOutputLayerReturnsExactlyV() throws {
        let cfg = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 16, depth: 1, numHeads: 2,
            numClasses: 3, learnSigma: false, isRefiner: true)
        let m = makeModel(cfg, seed: 4, std: 0.3)
        m.weights.finalW.fill(0)
        m.weights.finalB.fill(0)
        let x = randomTensor([2, 2, 8, 8], seed: 5)
        let v = randomTensor([2, 2, 8, 8], seed: 6)
        let out = try m.forward(x: x, t: [0.3, 0.9], y: [1, 3], v: v)
        XCTAssertEqual(out.data, v.data)
    }

    func testCachedEvaluatorEqualsGeneralPath() throws {
        let cfg = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 16, depth: 2, numHeads: 2,
            numClasses: 3, learnSigma: false, isRefiner: false)
        let m = makeModel(cfg, seed: 7)
        let times: [Float] = [0, 0.25, 0.5]
        let ev = m.makeEvaluator(maxRows: 4, times: times)
        let x = randomTensor([4, 1, 8, 8], seed: 8)
        var labels: [Int32] = [0, 1, 2, 3]
        ev.setLabels(&labels, rows: 4)
        var a = [Float](repeating: 0, count: 256)
        var b = a
        x.data.withUnsafeBufferPointer { xp in
            ev.evaluate(x: xp.baseAddress!, v: nil, timeIndex: 1, out: &a)
            ev.evaluate(x: xp.baseAddress!, v: nil, t: 0.25, out: &b)
        }
        XCTAssertEqual(a, b)
        let direct = try m.forward(x: x, t: [0.25, 0.25, 0.25, 0.25], y: labels)
        XCTAssertEqual(direct.data, a)
    }

    func testForwardRejectsBadInputs() throws {
        let cfg = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 16, depth: 1, numHeads: 2,
            numClasses: 3, learnSigma: false, isRefiner: false)
        let m = makeModel(cfg, seed: 9)
        XCTAssertThrowsError(try m.forward(x: Tensor(zeros: [1, 2, 8, 8]), t: [0], y: [0]))
        XCTAssertThrowsError(try m.forward(x: Tensor(zeros: [1, 1, 8, 8]), t: [0], y: [4]))
        XCTAssertThrowsError(
            try m.forward(x: Tensor(zeros: [1, 1, 8, 8]), t: [0], y: [0], v: Tensor(zeros: [1, 1, 8, 8])))
    }

    func testChunkedTokenPathMatchesReference() throws {
        let cfg = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 2, numHeads: 3,
            numClasses: 5, learnSigma: true, isRefiner: false)
        let saved = SiTEvaluator.chunkTokens
        defer { SiTEvaluator.chunkTokens = saved }
        SiTEvaluator.chunkTokens = 2 * cfg.tokens  // 2 samples per chunk; 5 rows → chunks of 2, 2, 1
        XCTAssertLessThan(try relativeError(makeModel(cfg, seed: 12), rows: 5, seed: 13), 1e-5)
    }
}
