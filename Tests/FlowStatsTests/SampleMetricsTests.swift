import FlowTensor
import XCTest

@testable import FlowStats

/// PRDC, KID, SWD, RMSE against the numpy/scipy fixture and simple closed forms.
final class SampleMetricsTests: XCTestCase {
    func sets() throws -> (x: [Double], y: [Double], z: [Double]) {
        let f = try NPZ.read(TestSupport.fixtures + "/stats_sets.npz")
        return (f["x"]!.doubles(), f["y"]!.doubles(), f["z"]!.doubles())
    }

    func checkPRDC(_ r: PRDCResult, _ e: [String: Double]) {
        XCTAssertEqual(r.precision, e["precision"]!, accuracy: 1e-12)
        XCTAssertEqual(r.recall, e["recall"]!, accuracy: 1e-12)
        XCTAssertEqual(r.density, e["density"]!, accuracy: 1e-12)
        XCTAssertEqual(r.coverage, e["coverage"]!, accuracy: 1e-12)
    }

    func testPRDCMatchesFixture() throws {
        let (x, y, z) = try sets()
        let e = try TestSupport.expected()
        checkPRDC(try PRDC.compute(real: y, fake: x, dimension: 8), e["prdc_xy"] as! [String: Double])
        checkPRDC(try PRDC.compute(real: z, fake: x, dimension: 8), e["prdc_xz"] as! [String: Double])
        XCTAssertThrowsError(try PRDC.compute(real: Array(y[0..<16]), fake: x, dimension: 8))
    }

    func testKIDMatchesFixture() throws {
        let (x, y, z) = try sets()
        let e = try TestSupport.expected()
        let exy = e["kid_xy"] as! [Double]
        let exz = e["kid_xz"] as! [Double]
        let a = try KID.compute(real: y, fake: x, dimension: 8, subsetSize: 100, subsets: 20, seed: 7)
        XCTAssertEqual(a.kid, exy[0], accuracy: 1e-9 * abs(exy[0]))
        XCTAssertEqual(a.std, exy[1], accuracy: 1e-8 * abs(exy[1]))
        let b = try KID.compute(real: z, fake: x, dimension: 8, subsetSize: 1000, subsets: 5, seed: 0)
        XCTAssertEqual(b.subsetSize, 250)
        XCTAssertEqual(b.kid, exz[0], accuracy: 1e-8 * max(1, abs(exz[0])))
    }

    func testSWDMatchesFixture() throws {
        let (x, y, _) = try sets()
        let e = try TestSupport.expected()
        XCTAssertEqual(
            try SWD.compute(x, y, dimension: 8, directions: 16, seed: 3), e["swd_xy"] as! Double, accuracy: 1e-10)
        let u = (0..<37).map { x[$0 * 8] }
        let v = (0..<51).map { y[$0 * 8 + 1] }
        XCTAssertEqual(SWD.wasserstein1D(u, v), e["w1_scipy"] as! Double, accuracy: 1e-12)
        // Closed form: W1 between a set and its translate is the shift.
        XCTAssertEqual(SWD.wasserstein1D([0, 1, 5], [2.5, 3.5, 7.5]), 2.5, accuracy: 1e-12)
    }

    func testRMSE() throws {
        let r = try RMSE.compute([0, 0, 1, 1], reference: [3, 4, 1, 1], dimension: 2)
        XCTAssertEqual(r.max, (12.5 as Double).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(r.mean, (12.5 as Double).squareRoot() / 2, accuracy: 1e-12)
        XCTAssertThrowsError(try RMSE.compute([0], reference: [0, 1], dimension: 1))
    }

    /// The reservoir keeps the `capacity` smallest hashes, whatever the sharding and arrival order.
    func testReservoirIsShardIndependent() throws {
        let d = 3
        let n = 1000
        let cap = 100
        let x = TestSupport.gaussian(rows: n, d: d, seed: 4)
        var whole = Reservoir(capacity: cap, dimension: d, seed: 42)
        x.withUnsafeBufferPointer { whole.add(firstIndex: 0, rows: n, vectors: $0.baseAddress!, labels: nil) }
        let w = whole.samples()
        let expected = (0..<n).sorted { StatsRandom.hash(seed: 42, index: $0) < StatsRandom.hash(seed: 42, index: $1) }
            .prefix(cap).sorted()
        XCTAssertEqual(w.indices, Array(expected))
        for (r, i) in w.indices.enumerated() {
            XCTAssertEqual(Array(w.data[(r * d)..<((r + 1) * d)]), Array(x[(i * d)..<((i + 1) * d)]))
        }
        // 7 shards merged in reverse order.
        var shards: [Reservoir] = []
        for s in 0..<7 {
            let lo = s * n / 7
            let hi = (s + 1) * n / 7
            var r = Reservoir(capacity: cap, dimension: d, seed: 42)
            x.withUnsafeBufferPointer {
                r.add(firstIndex: lo, rows: hi - lo, vectors: $0.baseAddress! + lo * d, labels: nil)
            }
            shards.append(r)
        }
        var merged = Reservoir(capacity: cap, dimension: d, seed: 42)
        for r in shards.reversed() { try merged.merge(r) }
        let m = merged.samples()
        XCTAssertEqual(m.indices, w.indices)
        XCTAssertEqual(m.data, w.data)
        XCTAssertThrowsError(try merged.merge(Reservoir(capacity: cap, dimension: d, seed: 1)))
    }

    /// Random projection preserves squared norms in expectation (JL): mean ratio ≈ 1.
    func testRandomProjectionIsDeterministicAndNormPreserving() {
        let din = 64
        let dout = 256
        let n = 200
        let p = RandomProjection(inputDimension: din, outputDimension: dout, seed: 5)
        XCTAssertEqual(p.weights, RandomProjection(inputDimension: din, outputDimension: dout, seed: 5).weights)
        let x = TestSupport.gaussian(rows: n, d: din, seed: 6)
        var out = [Float](repeating: 0, count: n * dout)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { p.features(xp.baseAddress!, rows: n, out: $0.baseAddress!) }
        }
        // Check one row against a naive float64 matrix-vector product.
        for o in 0..<dout {
            var s = 0.0
            for k in 0..<din { s += Double(p.weights[o * din + k]) * Double(x[k]) }
            XCTAssertEqual(Double(out[o]), s, accuracy: 1e-4)
        }
        var ratio = 0.0
        for i in 0..<n {
            var a = 0.0
            var b = 0.0
            for k in 0..<din { a += Double(x[i * din + k] * x[i * din + k]) }
            for k in 0..<dout { b += Double(out[i * dout + k] * out[i * dout + k]) }
            ratio += b / a
        }
        XCTAssertEqual(ratio / Double(n), 1, accuracy: 0.05)
    }
}
