import FlowModels
import XCTest

@testable import FlowSampler

/// Global convergence orders on the analytic mixture against a tight dopri5 reference.
///
/// Error(N) = RMS over 24 samples of ‖x_N − x_ref‖; order = least-squares slope of −log error vs log N over
/// N ∈ {16, 32, 64, 128}. Tolerance ±0.25 around 1 (Euler) and 2 (Heun, pseudo corrector): with only four grid
/// sizes the fit still carries pre-asymptotic curvature of a few hundredths, and an implementation bug (e.g. a
/// P step reusing a stale or wrongly-timed velocity) drops the order by ≥ 1, which this tolerance cannot hide.
/// The reference (rtol = atol = 1e-10, float64 internally) is ~1e-9 accurate, far below the smallest errors (~1e-5),
/// and float32 rounding of the fixed-step solvers (~1e-7 per step) stays two orders below them too.
final class ConvergenceTests: XCTestCase {
    func order(_ plan: (Int) -> String, guidance: Float, grid: [Int] = [16, 32, 64, 128]) throws -> (Double, [Double]) {
        let gmm = GaussianMixtureField.synthetic()
        let n = 24
        let labels: [Int32] = (0..<n).map { Labels.balanced(index: $0, classes: 4) }
        let ref = try runAll(
            try Sampler.compile(
                options: SamplerOptions(
                    plan: .init(.dopri5), guidance: Guidance(scale: guidance),
                    batch: 8, rtol: 1e-10, atol: 1e-10),
                predictor: gmm, refiner: nil), seed: 4, n: n, labels: labels, batch: 8)
        var logs: [(Double, Double)] = []
        var errs: [Double] = []
        for steps in grid {
            let prog = try Sampler.compile(
                options: SamplerOptions(
                    plan: try Plan.parse(plan(steps)), guidance: Guidance(scale: guidance), batch: 8),
                predictor: gmm, refiner: nil)
            let out = try runAll(prog, seed: 4, n: n, labels: labels, batch: 8)
            var e2 = 0.0
            for j in 0..<out.count {
                let e = Double(out[j]) - Double(ref[j])
                e2 += e * e
            }
            let err = (e2 / Double(n)).squareRoot()
            errs.append(err)
            print("convergence \(plan(steps)) s=\(guidance): rms error \(err)")
            logs.append((log(Double(steps)), log(err)))
        }
        let mx = logs.map(\.0).reduce(0, +) / 4
        let my = logs.map(\.1).reduce(0, +) / 4
        let slope =
            logs.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +) / logs.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
        print("convergence \(plan(grid[0]))… s=\(guidance): fitted order \(-slope)")
        return (-slope, errs)
    }

    func testEulerIsFirstOrder() throws {
        let (p, e) = try order({ "E\($0)" }, guidance: 1)
        XCTAssertEqual(p, 1, accuracy: 0.25, "errors \(e)")
    }

    func testHeunIsSecondOrder() throws {
        let (p, e) = try order({ "H\($0)" }, guidance: 1)
        XCTAssertEqual(p, 2, accuracy: 0.25, "errors \(e)")
        let (pg, eg) = try order({ "H\($0)" }, guidance: 2)
        XCTAssertEqual(pg, 2, accuracy: 0.25, "guided, errors \(eg)")
    }

    func testPseudoCorrectorIsSecondOrder() throws {
        let (p, e) = try order({ "H1P\($0 - 1)" }, guidance: 1)
        XCTAssertEqual(p, 2, accuracy: 0.25, "errors \(e)")
        let (pg, eg) = try order({ "H1P\($0 - 1)" }, guidance: 2)
        XCTAssertEqual(pg, 2, accuracy: 0.25, "guided, errors \(eg)")
    }

    /// The `gmm:synthetic` preset is meant for order fits by users (and outside checks) who start at coarse grids:
    /// over N = 4, 8, 16, 32 the orders must already be within ±0.15 of 1 and 2. A preset with narrow components
    /// (stiff near t = 1) fails this: with standard deviations from 0.4 (the preset before it was widened) this test
    /// fitted Heun 1.86 and H1P 1.83 (the CLI with 64 samples: 1.80 and 1.69).
    func testOrdersAlreadyHoldOnCoarseGrids() throws {
        let coarse = [4, 8, 16, 32]
        let (pe, ee) = try order({ "E\($0)" }, guidance: 1, grid: coarse)
        XCTAssertEqual(pe, 1, accuracy: 0.15, "Euler errors \(ee)")
        let (ph, eh) = try order({ "H\($0)" }, guidance: 1, grid: coarse)
        XCTAssertEqual(ph, 2, accuracy: 0.15, "Heun errors \(eh)")
        let (pp, ep) = try order({ "H1P\($0 - 1)" }, guidance: 1, grid: coarse)
        XCTAssertEqual(pp, 2, accuracy: 0.15, "H1P errors \(ep)")
    }
}
