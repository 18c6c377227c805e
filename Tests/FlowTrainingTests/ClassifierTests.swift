import FlowTensor
import Foundation
import XCTest

@testable import FlowTraining

/// The digit classifier: gradients vs float64 finite differences, learning a synthetic task, save/load.
final class ClassifierTests: XCTestCase {
    /// float64 cross-entropy of the MLP (GELU hidden layers) with the classifier's weights.
    static func referenceLoss(
        _ c: DigitClassifier, _ W: [[Double]], _ B: [[Double]], x: [Double], labels: [Int32]
    ) -> Double {
        let rows = labels.count
        var loss = 0.0
        for r in 0..<rows {
            var a = Array(x[(r * c.widths[0])..<((r + 1) * c.widths[0])])
            for k in 0..<(c.widths.count - 1) {
                let o = c.widths[k + 1]
                let i = c.widths[k]
                var z = (0..<o).map { j in B[k][j] + (0..<i).reduce(0) { $0 + W[k][j * i + $1] * a[$1] } }
                if k < c.widths.count - 2 {
                    z = z.map { v in 0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))) }
                }
                a = z
            }
            let m = a.max()!
            loss += log(a.reduce(0) { $0 + exp($1 - m) }) - (a[Int(labels[r])] - m)
        }
        return loss / Double(rows)
    }

    func testGradientsMatchFiniteDifferences() {
        let c = DigitClassifier(widths: [6, 5, 4, 3], seed: 2)
        for b in c.biases {
            var r = SeededRandom(seed: UInt64(b.count))
            b.copy(from: r.normals(b.count, std: 0.5))
        }
        var rng = SeededRandom(seed: 8)
        let rows = 4
        let x = rng.normals(rows * 6)
        let labels: [Int32] = [0, 2, 1, 2]
        let ws = c.workspace(rows: rows)
        c.forward(x, rows: rows, ws: ws)
        for p in c.parameters { p.grad.fill(0) }
        let (loss, _) = c.backward(x, labels: labels, rows: rows, ws: ws)
        var W = c.weights.map { $0.array.map(Double.init) }
        var B = c.biases.map { $0.array.map(Double.init) }
        let xd = x.map(Double.init)
        XCTAssertEqual(loss, Self.referenceLoss(c, W, B, x: xd, labels: labels), accuracy: 1e-5)
        let eps = 1e-5
        var worst = 0.0
        for k in 0..<W.count {
            for i in W[k].indices {
                let o = W[k][i]
                W[k][i] = o + eps
                let lp = Self.referenceLoss(c, W, B, x: xd, labels: labels)
                W[k][i] = o - eps
                let lm = Self.referenceLoss(c, W, B, x: xd, labels: labels)
                W[k][i] = o
                let fd = (lp - lm) / (2 * eps)
                worst = max(worst, abs(Double(c.gradW[k].ptr[i]) - fd) / (abs(fd) + 1e-3))
            }
            for i in B[k].indices {
                let o = B[k][i]
                B[k][i] = o + eps
                let lp = Self.referenceLoss(c, W, B, x: xd, labels: labels)
                B[k][i] = o - eps
                let lm = Self.referenceLoss(c, W, B, x: xd, labels: labels)
                B[k][i] = o
                let fd = (lp - lm) / (2 * eps)
                worst = max(worst, abs(Double(c.gradB[k].ptr[i]) - fd) / (abs(fd) + 1e-3))
            }
        }
        XCTAssertLessThan(worst, 1e-3)
    }

    func testLearnsSyntheticDigitsAndRoundTrips() throws {
        let data = try TrainLoopTests.syntheticData(count: 60)
        let c = DigitClassifier(widths: [64, 32, 16, 3], seed: 1)
        var o = TrainOptions()
        o.steps = 150
        o.batch = 12
        o.lr = 3e-3
        o.seed = 2
        o.logEvery = 1000
        let tr = try ClassifierTrainer(model: c, data: data, options: o)
        tr.shift = 0
        _ = tr.run { _ in }
        XCTAssertGreaterThanOrEqual(try tr.accuracy(on: data), 0.95)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ft-cls-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try c.save(path)
        let back = try DigitClassifier.load(path)
        XCTAssertEqual(try back.predict(data.images, count: data.count), try c.predict(data.images, count: data.count))
        let f = try back.features(data.images, count: data.count)
        XCTAssertEqual(f.count, data.count * 16)
        let p = try back.probabilities(Array(data.images[0..<128]), count: 2)
        XCTAssertEqual(Double(p[0..<3].reduce(0, +)), 1, accuracy: 1e-5)
        XCTAssertThrowsError(try back.predict([0, 1], count: 1))
    }
}
