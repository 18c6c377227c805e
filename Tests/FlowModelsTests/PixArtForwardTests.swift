import FlowTensor
import FlowTestSupport
import XCTest

@testable import FlowModels

/// The fast PixArt-α forward against the independent float64 reference (`ReferencePixArt`).
final class PixArtForwardTests: XCTestCase {
    static func config(learnSigma: Bool = true, refiner: Bool = false, depth: Int = 2) -> PixArtConfig {
        PixArtConfig(
            inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: depth, numHeads: 3,
            captionChannels: 10, captionTokens: 6, learnSigma: learnSigma, isRefiner: refiner)
    }

    static func model(_ cfg: PixArtConfig, seed: UInt64, std: Double = 0.2) -> PixArtModel {
        let w = PixArtWeights(config: cfg)
        w.randomize(seed: seed, std: std)
        return PixArtModel(weights: w)
    }

    func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        var r = SeededRandom(seed: seed)
        return Tensor(shape: shape, data: r.normals(shape.reduce(1, *)))
    }

    /// Padding masks: row 0 full, then suffix and scattered padding, cycling.
    func masks(rows: Int, length l: Int) -> [Int32] {
        (0..<rows).flatMap { r -> [Int32] in
            (0..<l).map { j in
                switch r % 3 {
                case 0: return 1
                case 1: return j < 1 + r % l ? 1 : 0
                default: return (j % 2 == 0 || j == l - 1) ? 1 : 0
                }
            }
        }
    }

    /// Max |fast − ref| / max |ref| over a batch; `nullRows` trailing rows use the null caption.
    func relativeError(_ model: PixArtModel, rows: Int, length: Int, nullRows: Int = 0, seed: UInt64) throws -> Double {
        let cfg = model.config
        let shape = [rows, cfg.inChannels, cfg.inputSize, cfg.inputSize]
        let x = randomTensor(shape, seed: seed)
        let v = cfg.isRefiner ? randomTensor(shape, seed: seed + 1) : nil
        let cap = randomTensor([rows, length, cfg.captionChannels], seed: seed + 2)
        let mask = masks(rows: rows, length: length)
        let t: [Float] = (0..<rows).map { Float($0 + 1) / Float(rows + 1) }
        let ev = PixArtEvaluator(model: model, maxRows: rows, times: [], maxCaptionLength: length)
        var fast = [Float](repeating: 0, count: rows * cfg.sampleSize)
        ev.setCaptions(features: cap.data, mask: mask, length: length, captionRows: rows - nullRows, rows: rows)
        if let v {
            ev.forward(x: x.data, v: v.data, t: t, out: &fast)
        } else {
            ev.forward(x: x.data, v: nil, t: t, out: &fast)
        }
        let ref = ReferencePixArt(model)
        let s = cfg.inputSize
        let c = cfg.inChannels
        let cc = cfg.captionChannels
        func img(_ tns: Tensor, _ n: Int) -> [[[Double]]] {
            (0..<c).map { ch in
                (0..<s).map { i in (0..<s).map { j in Double(tns.data[((n * c + ch) * s + i) * s + j]) } }
            }
        }
        let null = model.weights.nullCaption.array.map(Double.init)
        var maxErr = 0.0
        var maxRef = 0.0
        for n in 0..<rows {
            let isNull = n >= rows - nullRows
            let l = isNull ? cfg.captionTokens : length
            let caption = (0..<l).map { j in
                (0..<cc).map { k in isNull ? null[j * cc + k] : Double(cap.data[(n * length + j) * cc + k]) }
            }
            let m = isNull ? [Int](repeating: 1, count: l) : (0..<l).map { Int(mask[n * length + $0]) }
            let r = ref.forward(x: img(x, n), t: Double(t[n]), caption: caption, mask: m, v: v.map { img($0, n) })
            for ch in 0..<c {
                for i in 0..<s {
                    for j in 0..<s {
                        let a = Double(fast[((n * c + ch) * s + i) * s + j])
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

    func testPredictorPredSigmaThreeHeadsPaddingMasksAndNullRow() throws {
        let m = Self.model(Self.config(), seed: 1)
        XCTAssertLessThan(try relativeError(m, rows: 4, length: 6, nullRows: 1, seed: 10), 1e-5)
        XCTAssertLessThan(try relativeError(m, rows: 3, length: 9, seed: 11), 1e-5)  // captions longer than L_max
    }

    func testPredictorWithoutPredSigmaPatch4() throws {
        var cfg = PixArtConfig(
            inputSize: 12, patchSize: 4, inChannels: 1, hiddenSize: 16, depth: 3, numHeads: 2,
            captionChannels: 7, captionTokens: 5, learnSigma: false, isRefiner: false)
        cfg.mlpHidden = 40
        XCTAssertLessThan(try relativeError(Self.model(cfg, seed: 2), rows: 3, length: 5, seed: 20), 1e-5)
    }

    func testRefinerMatchesFloat64Reference() throws {
        for sigma in [false, true] {
            let m = Self.model(Self.config(learnSigma: sigma, refiner: true, depth: 1), seed: 3)
            XCTAssertLessThan(
                try relativeError(m, rows: 3, length: 6, nullRows: 1, seed: 30), 1e-5,
                "pred_sigma \(sigma)")
        }
    }

    func testChunkedTokenPathMatchesReference() throws {
        let saved = PixArtEvaluator.chunkTokens
        defer { PixArtEvaluator.chunkTokens = saved }
        PixArtEvaluator.chunkTokens = 2 * Self.config().tokens  // 5 rows → chunks of 2, 2, 1
        XCTAssertLessThan(
            try relativeError(
                Self.model(Self.config(), seed: 4), rows: 5, length: 6, nullRows: 2,
                seed: 40),
            1e-5)
    }

    func testCachedTimesEqualPerRowForward() throws {
        let m = Self.model(Self.config(), seed: 5)
        let cfg = m.config
        let rows = 3
        let l = 6
        let times: [Float] = [0, 0.25, 0.5]
        let ev = m.makeCaptionEvaluator(maxRows: rows, times: times, maxCaptionLength: l)
        let x = randomTensor([rows] + m.sampleShape, seed: 6)
        let cap = randomTensor(
            [rows, l, cfg.captionChannels],
            seed: 7)
        let mask = masks(rows: rows, length: l)
        ev.setCaptions(features: cap.data, mask: mask, length: l, captionRows: 2, rows: rows)
        var labels: [Int32] = [0, 0, 0]
        ev.setLabels(&labels, rows: rows)
        var a = [Float](repeating: 0, count: rows * cfg.sampleSize)
        var b = a
        ev.evaluate(x: x.data, v: nil, timeIndex: 1, out: &a)
        ev.evaluate(x: x.data, v: nil, t: 0.25, out: &b)
        XCTAssertEqual(a, b)
        var fullMask = mask
        for j in 0..<l { fullMask[2 * l + j] = 1 }
        var withNull = cap
        for j in 0..<(l * cfg.captionChannels) {
            withNull.data[2 * l * cfg.captionChannels + j] = m.weights.nullCaption.ptr[j]
        }
        let direct = try m.forward(x: x, t: [0.25, 0.25, 0.25], caption: withNull, mask: fullMask)
        for i in 0..<a.count { XCTAssertEqual(direct.data[i], a[i], accuracy: 1e-5 * max(1, abs(a[i]))) }
    }

    func testRefinerWithZeroOutputLayerReturnsExactlyV() throws {
        let m = Self.model(Self.config(learnSigma: false, refiner: true, depth: 1), seed: 8)
        m.weights.finalW.fill(0)
        m.weights.finalB.fill(0)
        let x = randomTensor([2] + m.sampleShape, seed: 9)
        let v = randomTensor([2] + m.sampleShape, seed: 10)
        let cap = randomTensor([2, 6, 10], seed: 11)
        let out = try m.forward(x: x, t: [0.3, 0.9], caption: cap, mask: masks(rows: 2, length: 6), v: v)
        XCTAssertEqual(out.data, v.data)
        let r = try m.forward(
            x: x, t: [0.3, 0.9], caption: cap, mask: masks(rows: 2, length: 6), v: v, rawOffset: true)
        XCTAssertEqual(r.data, [Float](repeating: 0, count: r.count))
    }

    func testForwardRejectsBadInputs() throws {
        let m = Self.model(Self.config(), seed: 12)
        let x = Tensor(zeros: [1] + m.sampleShape)
        let cap = Tensor(zeros: [1, 6, 10])
        XCTAssertThrowsError(
            try m.forward(
                x: Tensor(zeros: [1, 1, 8, 8]), t: [0], caption: cap,
                mask: [
                    1, 1, 1, 1,
                    1, 1,
                ]))
        XCTAssertThrowsError(try m.forward(x: x, t: [0], caption: Tensor(zeros: [1, 6, 9]), mask: [1, 1, 1, 1, 1, 1]))
        XCTAssertThrowsError(try m.forward(x: x, t: [0], caption: cap, mask: [1, 1, 1]))
        XCTAssertThrowsError(try m.forward(x: x, t: [0], caption: cap, mask: [1, 1, 1, 1, 1, 1], v: x))
    }
}
