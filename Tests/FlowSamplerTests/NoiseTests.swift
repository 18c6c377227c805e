import XCTest

@testable import FlowSampler

/// Philox known-answer vectors (Random123 kat_vectors) and the noise/label functions built on it.
final class NoiseTests: XCTestCase {
    func testPhiloxKnownAnswers() {
        let z = Philox.block(counter: (0, 0, 0, 0), key: (0, 0))
        XCTAssertEqual([z.0, z.1, z.2, z.3], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        let f = Philox.block(counter: (.max, .max, .max, .max), key: (.max, .max))
        XCTAssertEqual([f.0, f.1, f.2, f.3], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        let p = Philox.block(
            counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0))
        XCTAssertEqual([p.0, p.1, p.2, p.3], [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
    }

    func testNoiseIsPureFunctionOfSeedAndIndex() {
        var a = [Float](repeating: 0, count: 13)
        var b = [Float](repeating: 0, count: 10)
        var c = [Float](repeating: 0, count: 13)
        Noise.fill(seed: 7, index: 12345, into: &a, count: 13)
        Noise.fill(seed: 7, index: 12345, into: &b, count: 10)
        Noise.fill(seed: 7, index: 12346, into: &c, count: 13)
        XCTAssertEqual(Array(a[0..<10]), b, "a prefix must not depend on the requested count")
        XCTAssertNotEqual(a, c)
        var d = [Float](repeating: 0, count: 13)
        Noise.fill(seed: 8, index: 12345, into: &d, count: 13)
        XCTAssertNotEqual(a, d)
    }

    func testNoiseMomentsAreStandardNormal() {
        // 4 × 50,000 draws: mean, variance, 4th moment and a tail fraction against N(0, 1) with ~5σ margins.
        var sum = 0.0
        var sum2 = 0.0
        var sum4 = 0.0
        var tail = 0
        var buf = [Float](repeating: 0, count: 4)
        let n = 50_000
        for i in 0..<n {
            Noise.fill(seed: 3, index: i, into: &buf, count: 4)
            for v in buf {
                let x = Double(v)
                sum += x
                sum2 += x * x
                sum4 += x * x * x * x
                if abs(x) > 1.959964 { tail += 1 }
            }
        }
        let m = Double(4 * n)
        XCTAssertEqual(sum / m, 0, accuracy: 5 / m.squareRoot())
        XCTAssertEqual(sum2 / m, 1, accuracy: 5 * 2.0.squareRoot() / m.squareRoot())
        XCTAssertEqual(sum4 / m, 3, accuracy: 5 * 96.0.squareRoot() / m.squareRoot())
        XCTAssertEqual(Double(tail) / m, 0.05, accuracy: 5 * (0.05 * 0.95 / m).squareRoot())
    }

    func testLabels() {
        XCTAssertEqual((0..<7).map { Labels.balanced(index: $0, classes: 3) }, [0, 1, 2, 0, 1, 2, 0])
        var counts = [Int](repeating: 0, count: 10)
        var same = 0
        var noise = [Float](repeating: 0, count: 1)
        for i in 0..<20_000 {
            let l = Labels.random(seed: 5, index: i, classes: 10)
            XCTAssert(l >= 0 && l < 10)
            counts[Int(l)] += 1
            XCTAssertEqual(l, Labels.random(seed: 5, index: i, classes: 10))
            Noise.fill(seed: 5, index: i, into: &noise, count: 1)
            if (noise[0] > 0) == (l >= 5) { same += 1 }
        }
        for c in counts { XCTAssertEqual(Double(c), 2000, accuracy: 5 * (2000 * 0.9).squareRoot()) }
        XCTAssertEqual(Double(same), 10_000, accuracy: 5 * 70.8, "labels must be independent of the noise stream")
    }
}
