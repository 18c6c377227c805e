import FlowTensor
import XCTest

@testable import FlowStats

/// Fréchet distance against closed forms and a scipy fixture.
final class FrechetTests: XCTestCase {
    /// Diagonal covariances commute: FD = ‖Δμ‖² + Σ (√a_i − √b_i)².
    func testDiagonalClosedForm() throws {
        let d = 5
        let a: [Double] = [1, 4, 0.25, 9, 2]
        let b: [Double] = [2, 1, 0.5, 16, 2]
        let mu1: [Double] = [0, 1, 2, 3, 4]
        let mu2: [Double] = [1, 1, 0, 3, 5]
        var s1 = [Double](repeating: 0, count: d * d)
        var s2 = s1
        for i in 0..<d {
            s1[i * d + i] = a[i]
            s2[i * d + i] = b[i]
        }
        var expect = 0.0
        for i in 0..<d {
            expect +=
                (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + (a[i].squareRoot() - b[i].squareRoot())
                * (a[i].squareRoot() - b[i].squareRoot())
        }
        let r = try Frechet.distance(mu1: mu1, sigma1: s1, mu2: mu2, sigma2: s2)
        XCTAssertEqual(r.distance, expect, accuracy: 1e-12 * max(1, expect))
        XCTAssertEqual(r.clampedEigenvalues, 0)
    }

    /// Non-commuting 2×2: tr √(A^½ B A^½) = √(tr(AB) + 2 √(det A det B)).
    func testNonCommutingClosedForm() throws {
        let A: [Double] = [2, 0.9, 0.9, 1]
        let B: [Double] = [1, -0.4, -0.4, 3]
        let trAB = A[0] * B[0] + A[1] * B[2] + A[2] * B[1] + A[3] * B[3]
        let detA = A[0] * A[3] - A[1] * A[2]
        let detB = B[0] * B[3] - B[1] * B[2]
        let trSqrt = (trAB + 2 * (detA * detB).squareRoot()).squareRoot()
        let expect = 1.0 + 4.0 + (A[0] + A[3]) + (B[0] + B[3]) - 2 * trSqrt  // Δμ = (1, -2)
        let r = try Frechet.distance(mu1: [0, 0], sigma1: A, mu2: [1, -2], sigma2: B)
        XCTAssertEqual(r.distance, expect, accuracy: 1e-12)
        XCTAssertEqual(r.traceSqrt, trSqrt, accuracy: 1e-12)
        // Symmetric in its arguments.
        let s = try Frechet.distance(mu1: [1, -2], sigma1: B, mu2: [0, 0], sigma2: A)
        XCTAssertEqual(s.distance, expect, accuracy: 1e-12)
    }

    /// Rank-deficient equal covariances: FD ≈ 0 and clamped eigenvalues are reported, not hidden.
    func testSingularEqualCovarianceReportsClamping() throws {
        let d = 20
        let x = TestSupport.gaussian(rows: 6, d: d, seed: 5)  // rank ≤ 5 covariance
        let (mu, c) = TestSupport.naiveMoments(x, d: d)
        let r = try Frechet.distance(mu1: mu, sigma1: c, mu2: mu, sigma2: c)
        XCTAssertEqual(r.distance, 0, accuracy: 1e-6)
        XCTAssertGreaterThan(r.clampedEigenvalues, 0)
        XCTAssertLessThan(r.mostNegativeEigenvalue, 0)
        XCTAssertGreaterThan(r.mostNegativeEigenvalue, -1e-10)
    }

    func testMatchesScipyFixture() throws {
        let e = try TestSupport.expected()
        let z = try NPZ.read(TestSupport.fixtures + "/stats_sets.npz")
        let x = try StatsSet(samples: z["x"]!.floats(), dimension: 8, labels: nil, source: "x")
        let y = try StatsSet(samples: z["y"]!.floats(), dimension: 8, labels: nil, source: "y")
        let w = try StatsSet(samples: z["z"]!.floats(), dimension: 8, labels: nil, source: "z")
        XCTAssertLessThan(TestSupport.maxRelDiff(x.mean, e["mu_x"] as! [Double]), 1e-12)
        XCTAssertLessThan(TestSupport.maxRelDiff(x.covariance, e["sigma_x"] as! [Double]), 1e-12)
        let fdxy = try Frechet.distance(mu1: x.mean, sigma1: x.covariance, mu2: y.mean, sigma2: y.covariance).distance
        XCTAssertEqual(fdxy, e["fd_xy"] as! Double, accuracy: 1e-9 * (e["fd_xy"] as! Double))
        let fdxz = try Frechet.distance(mu1: x.mean, sigma1: x.covariance, mu2: w.mean, sigma2: w.covariance).distance
        XCTAssertEqual(fdxz, e["fd_xz"] as! Double, accuracy: 1e-8)
    }

    func testBadInputs() {
        XCTAssertThrowsError(try Frechet.distance(mu1: [0], sigma1: [1], mu2: [0, 0], sigma2: [1, 0, 0, 1]))
        XCTAssertThrowsError(try Frechet.distance(mu1: [0], sigma1: [.nan], mu2: [0], sigma2: [1]))
        XCTAssertThrowsError(
            try Frechet.distance(mu1: [0, 0], sigma1: [1, 2, 0, 1], mu2: [0, 0], sigma2: [1, 0, 0, 1]))
    }

    /// A symmetric matrix with a clearly negative eigenvalue is not a covariance: an error, never a negative FD.
    func testNonPositiveDefiniteSigmaIsRefused() {
        let indefinite: [Double] = [1, 2, 2, 1]  // eigenvalues −1 and 3
        let identity: [Double] = [1, 0, 0, 1]
        for (s1, s2) in [(indefinite, identity), (identity, indefinite)] {
            XCTAssertThrowsError(try Frechet.distance(mu1: [0, 0], sigma1: s1, mu2: [0, 0], sigma2: s2)) { e in
                XCTAssertTrue("\(e)".contains("positive semi-definite"), "\(e)")
            }
        }
    }

    /// Mixture moments against Monte Carlo samples of the mixture.
    func testMixtureMomentsMonteCarlo() throws {
        let d = 2
        let classes = 2
        let comps = 2
        let w: [Double] = [0.3, 0.7, 0.5, 0.5]
        let means: [Double] = [0, 0, 2, 1, -1, 3, 1, -2]
        let vars: [Double] = [1, 0.5, 0.2, 0.3, 0.4, 1, 0.6, 0.1]
        let (mu, cov) = try MixtureMoments.moments(
            weights: w, means: means, variances: vars, classes: classes, components: comps, dimension: d)
        var r = StatsRandom(seed: 11)
        let n = 200_000
        var x = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            let c = i % classes
            let k = r.uniform() < w[c * comps] ? 0 : 1
            let idx = c * comps + k
            for j in 0..<d { x[i * d + j] = Float(means[idx * d + j] + vars[idx * d + j].squareRoot() * r.normal()) }
        }
        var m = Moments(dimension: d)
        try m.add(x)
        let cm = try m.covariance()
        for j in 0..<d { XCTAssertEqual(m.mean[j], mu[j], accuracy: 0.02) }
        for k in 0..<(d * d) { XCTAssertEqual(cm[k], cov[k], accuracy: 0.03) }
    }
}
