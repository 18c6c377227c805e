import FlowTensor
import Foundation
import XCTest

@testable import FlowTraining

/// AdamW, clipping, warm-up and EMA against closed forms computed independently in float64.
final class OptimizerTests: XCTestCase {
    func testAdamWMatchesFloat64Formula() {
        let p = Buffer([0.5, -1.25, 2])
        let g = Buffer(count: 3)
        let opt = AdamW([("w", p, g)], weightDecay: 0.1)
        var ref = [0.5, -1.25, 2.0]
        var m = [0.0, 0, 0]
        var v = [0.0, 0, 0]
        let grads: [[Double]] = [[0.3, -0.1, 2.0], [-0.2, 0.05, 1.0], [0.7, 0.0, -3.0]]
        let lr = 0.01
        for (t, gs) in grads.enumerated() {
            g.copy(from: gs.map(Float.init))
            opt.step(lr: Float(lr))
            for i in 0..<3 {
                m[i] = 0.9 * m[i] + 0.1 * gs[i]
                v[i] = 0.999 * v[i] + 0.001 * gs[i] * gs[i]
                let mh = m[i] / (1 - pow(0.9, Double(t + 1)))
                let vh = v[i] / (1 - pow(0.999, Double(t + 1)))
                ref[i] = ref[i] * (1 - lr * 0.1) - lr * mh / (vh.squareRoot() + 1e-8)
            }
        }
        for i in 0..<3 { XCTAssertEqual(Double(p.ptr[i]), ref[i], accuracy: 1e-6) }
        XCTAssertEqual(opt.t, 3)
    }

    func testClipGradNorm() {
        let a = Buffer([3, 0])
        let b = Buffer([0, 4, 0])
        let params: [TrainableParameter] = [("a", Buffer(count: 2), a), ("b", Buffer(count: 3), b)]
        XCTAssertEqual(AdamW.clipGradNorm(params, maxNorm: 10), 5, accuracy: 1e-6)
        XCTAssertEqual(a.ptr[0], 3)  // under the limit: untouched
        XCTAssertEqual(AdamW.clipGradNorm(params, maxNorm: 1), 5, accuracy: 1e-6)
        let n = (Double(a.ptr[0]) * Double(a.ptr[0]) + Double(b.ptr[1]) * Double(b.ptr[1])).squareRoot()
        XCTAssertEqual(n, 1, accuracy: 1e-5)
        XCTAssertEqual(Double(a.ptr[0] / b.ptr[1]), 0.75, accuracy: 1e-6)
    }

    func testWarmup() {
        XCTAssertEqual(AdamW.warmupLR(1, step: 0, warmup: 4), 0.25)
        XCTAssertEqual(AdamW.warmupLR(1, step: 3, warmup: 4), 1)
        XCTAssertEqual(AdamW.warmupLR(1, step: 100, warmup: 4), 1)
        XCTAssertEqual(AdamW.warmupLR(2, step: 0, warmup: 0), 2)
    }

    /// With a parameter that stays at θ after starting at θ0, the shadow is θ + (θ0 − θ)·Π d_k.
    func testEMAClosedForm() {
        let p = Buffer([1])
        let g = Buffer(count: 1)
        let ema = EMA([("w", p, g)])
        p.ptr[0] = 3
        var prod = 1.0
        for s in 0..<50 {
            ema.update(step: s)
            prod *= min(0.999, Double(1 + s) / Double(10 + s))
        }
        XCTAssertEqual(Double(ema.shadow[0].ptr[0]), 3 + (1 - 3) * prod, accuracy: 1e-5)
        XCTAssertEqual(ema.decay(step: 0), 0.1, accuracy: 1e-7)
        XCTAssertEqual(ema.decay(step: 100_000), 0.999, accuracy: 1e-7)
    }

    func testBatchOrderIsAPermutationPerEpochAndSeeded() {
        var o = BatchOrder(count: 10, batch: 5, seed: 3)
        let epoch0 = o.indices(step: 0) + o.indices(step: 1)
        XCTAssertEqual(Set(epoch0), Set(0..<10))
        let epoch1 = o.indices(step: 2) + o.indices(step: 3)
        XCTAssertEqual(Set(epoch1), Set(0..<10))
        XCTAssertNotEqual(epoch0, epoch1)
        var fresh = BatchOrder(count: 10, batch: 5, seed: 3)
        XCTAssertEqual(fresh.indices(step: 3), Array(epoch1[5...]))  // random access to any step
        var other = BatchOrder(count: 10, batch: 5, seed: 4)
        XCTAssertNotEqual(other.indices(step: 0) + other.indices(step: 1), epoch0)
    }
}
