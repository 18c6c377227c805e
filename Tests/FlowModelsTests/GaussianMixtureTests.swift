import FlowTensor
import Foundation
import XCTest

@testable import FlowModels

/// The analytic mixture field against Monte Carlo, closed forms and an independent null-class construction.
final class GaussianMixtureTests: XCTestCase {
    /// 2 classes × 2 components in D = 2, well separated, unequal weights and anisotropic variances.
    func smallMixture() -> GaussianMixtureField {
        try! GaussianMixtureField(
            sampleShape: [2], numClasses: 2, componentsPerClass: 2,
            weights: [0.3, 0.7, 0.5, 0.5],
            means: [2, 0, -1, 1.5, 0, -2, -2, -1],
            variances: [0.25, 0.5, 0.1, 0.3, 0.6, 0.2, 0.3, 0.3])
    }

    func velocity(_ f: GaussianMixtureField, _ x: [Double], _ t: Double, _ y: Int32) -> [Double] {
        var out = [Double](repeating: 0, count: x.count)
        var scratch = [Double](repeating: 0, count: f.scratchSize)
        f.velocity(x: x, t: t, label: y, out: &out, scratch: &scratch)
        return out
    }

    /// E[u | x_t] is characterised by E[(u − f(x_t)) φ(x_t)] = 0 for every test function φ. Check several φ by Monte
    /// Carlo (200k draws, |z| < 5), for a class and the null class, and check that a wrong field (prior instead of
    /// posterior responsibilities) is rejected by the same statistic, so the test has power.
    func testConditionalExpectationMonteCarlo() {
        let f = smallMixture()
        var rng = SplitMix64(seed: 42)
        let n = 200_000
        for (t, label) in [(0.35, Int32(0)), (0.8, Int32(1)), (0.6, Int32(2))] {
            var sums = [Double](repeating: 0, count: 10)
            var sq = [Double](repeating: 0, count: 10)
            var wrongSums = [Double](repeating: 0, count: 10)
            var wrongSq = [Double](repeating: 0, count: 10)
            for _ in 0..<n {
                let cls = label == 2 ? Int(rng.next() % 2) : Int(label)
                var u = rng.uniform()
                var k = 0
                for c in 0..<2 {
                    let w = f.weights[cls * 2 + c]
                    if u < w {
                        k = c
                        break
                    }
                    u -= w
                    k = c
                }
                let comp = cls * 2 + k
                var xt = [0.0, 0.0]
                var target = [0.0, 0.0]
                for j in 0..<2 {
                    let x1 = f.means[comp * 2 + j] + f.variances[comp * 2 + j].squareRoot() * rng.normal()
                    let x0 = rng.normal()
                    xt[j] = t * x1 + (1 - t) * x0
                    target[j] = x1 - x0
                }
                let v = velocity(f, xt, t, label)
                let wrong = wrongVelocity(f, xt, t, label)
                let phis = [1, xt[0], xt[1], tanh(2 * xt[0] - xt[1]), exp(-(xt[0] * xt[0] + xt[1] * xt[1]) / 2)]
                for (p, phi) in phis.enumerated() {
                    for j in 0..<2 {
                        let e = (target[j] - v[j]) * phi
                        let ew = (target[j] - wrong[j]) * phi
                        sums[p * 2 + j] += e
                        sq[p * 2 + j] += e * e
                        wrongSums[p * 2 + j] += ew
                        wrongSq[p * 2 + j] += ew * ew
                    }
                }
            }
            var worstWrong = 0.0
            for i in 0..<10 {
                let m = sums[i] / Double(n)
                let sd = (sq[i] / Double(n) - m * m).squareRoot() / Double(n).squareRoot()
                XCTAssertLessThan(abs(m / sd), 5, "t=\(t) label=\(label) moment \(i): mean residual \(m) ± \(sd)")
                let mw = wrongSums[i] / Double(n)
                let sdw = (wrongSq[i] / Double(n) - mw * mw).squareRoot() / Double(n).squareRoot()
                worstWrong = max(worstWrong, abs(mw / sdw))
            }
            XCTAssertGreaterThan(worstWrong, 10, "the Monte-Carlo statistic must detect a wrong field (t=\(t))")
        }
    }

    /// Negative control: per-component conditional means averaged with prior weights (no posterior).
    func wrongVelocity(_ f: GaussianMixtureField, _ x: [Double], _ t: Double, _ label: Int32) -> [Double] {
        let comps = label == 2 ? Array(0..<4) : [Int(label) * 2, Int(label) * 2 + 1]
        var out = [0.0, 0.0]
        for k in comps {
            let w = f.weights[k] / (label == 2 ? 2 : 1)
            for j in 0..<2 {
                let s = f.variances[k * 2 + j]
                let mu = f.means[k * 2 + j]
                out[j] += w * (mu + (t * s - (1 - t)) / (t * t * s + (1 - t) * (1 - t)) * (x[j] - t * mu))
            }
        }
        return out
    }

    func testEndpointsClosedForm() {
        let f = smallMixture()
        let x = [0.3, -0.7]
        // t = 1: u = x1 − x0 with x0 independent of x1 = x → E[u | x] = x.
        let v1 = velocity(f, x, 1, 0)
        XCTAssertEqual(v1[0], x[0], accuracy: 1e-12)
        XCTAssertEqual(v1[1], x[1], accuracy: 1e-12)
        // t = 0: x_t = x0 independent of x1 → E[u | x] = E[x1] − x.
        for label in [Int32(0), 1, 2] {
            let v0 = velocity(f, x, 0, label)
            for j in 0..<2 {
                var mean = 0.0
                for k in 0..<4 {
                    let cls = k / 2
                    let w = label == 2 ? f.weights[k] / 2 : (cls == Int(label) ? f.weights[k] : 0)
                    mean += w * f.means[k * 2 + j]
                }
                XCTAssertEqual(v0[j], mean - x[j], accuracy: 1e-12)
            }
        }
    }

    /// The null class equals an explicitly built one-class mixture of all components with weights π/K.
    func testNullClassIsMixtureOfAllClasses() throws {
        let f = smallMixture()
        let all = try GaussianMixtureField(
            sampleShape: [2], numClasses: 1, componentsPerClass: 4,
            weights: f.weights.map { $0 / 2 }, means: f.means, variances: f.variances)
        for t in [0.1, 0.5, 0.93] {
            let x = [0.4 - t, 1.2 * t]
            let a = velocity(f, x, t, 2)
            let b = velocity(all, x, t, 0)
            XCTAssertEqual(a[0], b[0], accuracy: 1e-12)
            XCTAssertEqual(a[1], b[1], accuracy: 1e-12)
        }
    }

    func testFloat32EvaluatorAndTimeCache() {
        let f = GaussianMixtureField.synthetic()
        let times: [Float] = [0, 0.25, 0.5, 1]
        let ev = f.makeEvaluator(maxRows: 3, times: times)
        var labels: [Int32] = [0, 3, 4]
        ev.setLabels(&labels, rows: 3)
        var rng = SplitMix64(seed: 1)
        let x = (0..<48).map { _ in Float(rng.normal()) }
        var a = [Float](repeating: 0, count: 48)
        var b = a
        ev.evaluate(x: x, v: nil, timeIndex: 2, out: &a)
        ev.evaluate(x: x, v: nil, t: 0.5, out: &b)
        for r in 0..<3 {
            let ref = velocity(f, x[(r * 16)..<(r * 16 + 16)].map(Double.init), 0.5, labels[r])
            for j in 0..<16 {
                XCTAssertEqual(Double(a[r * 16 + j]), ref[j], accuracy: 1e-5 * max(1, abs(ref[j])))
                XCTAssertEqual(Double(b[r * 16 + j]), ref[j], accuracy: 1e-5 * max(1, abs(ref[j])))
            }
        }
    }

    func testFileRoundTripAndFit() throws {
        // Draw from a known 1-class, 2-component mixture in D = 3 and fit it back.
        let truth = try GaussianMixtureField(
            sampleShape: [3], numClasses: 1, componentsPerClass: 2, weights: [0.4, 0.6],
            means: [3, 0, -1, -3, 1, 0.5], variances: [0.2, 0.3, 0.1, 0.4, 0.2, 0.3])
        var rng = SplitMix64(seed: 9)
        var data = [Float]()
        var labels = [Int]()
        for _ in 0..<4000 {
            let k = rng.uniform() < 0.4 ? 0 : 1
            for j in 0..<3 {
                data.append(Float(truth.means[k * 3 + j] + truth.variances[k * 3 + j].squareRoot() * rng.normal()))
            }
            labels.append(0)
        }
        let fit = try GaussianMixtureField.fit(
            data: data, labels: labels, sampleShape: [3], numClasses: 1, components: 2,
            varianceFloor: 1e-3, seed: 1)
        let order = fit.means[0] > 0 ? [0, 1] : [1, 0]
        for (fk, tk) in order.enumerated() {
            XCTAssertEqual(fit.weights[fk], truth.weights[tk], accuracy: 0.03)
            for j in 0..<3 {
                XCTAssertEqual(fit.means[fk * 3 + j], truth.means[tk * 3 + j], accuracy: 0.05)
                XCTAssertEqual(fit.variances[fk * 3 + j], truth.variances[tk * 3 + j], accuracy: 0.05)
            }
        }
        let path = NSTemporaryDirectory() + "gmm-\(getpid()).safetensors"
        defer { unlink(path) }
        try fit.write(path)
        let back = try GaussianMixtureField.load(path)
        XCTAssertEqual(back.sampleShape, [3])
        XCTAssertEqual(back.componentsPerClass, 2)
        for i in 0..<6 { XCTAssertEqual(back.means[i], fit.means[i], accuracy: 1e-6 * max(1, abs(fit.means[i]))) }
        XCTAssertThrowsError(
            try GaussianMixtureField(
                sampleShape: [2], numClasses: 1, componentsPerClass: 1,
                weights: [1], means: [0, 0], variances: [1, 0]))
    }

    func testModelLoaderAndDigest() throws {
        XCTAssertEqual(
            SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(
            SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 1000)),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
        let m = try ModelLoader.load("gmm:synthetic")
        XCTAssertEqual(m.sampleShape, [16])
        XCTAssertEqual(m.numClasses, 4)
        XCTAssertEqual(try ModelLoader.digest("gmm:synthetic"), try ModelLoader.digest("gmm:synthetic"))
        XCTAssertThrowsError(try ModelLoader.load("gmm:nope")) { e in
            XCTAssert(((e as? FlowError)?.message ?? "").contains("gmm:synthetic"))
        }
        XCTAssertThrowsError(try ModelLoader.load("/nonexistent/model.safetensors")) { e in
            XCTAssert(((e as? FlowError)?.message ?? "").contains("gmm:mnist"))
        }
    }
}
