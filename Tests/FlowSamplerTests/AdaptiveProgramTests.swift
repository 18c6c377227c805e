import FlowModels
import FlowTensor
import XCTest

@testable import FlowSampler

/// The adaptive engine: a solve that cannot finish in its step budget is an error naming the sample and the fix,
/// never a returned sample; fields with a float64 form are integrated through it, others through float32.
final class AdaptiveProgramTests: XCTestCase {
    let gmm = GaussianMixtureField.synthetic()

    func program(maxSteps: Int, tolerance: Double = 1e-6, field: VelocityField? = nil) throws -> SamplingProgram {
        let options = SamplerOptions(
            plan: Plan(.dopri5), guidance: Guidance(scale: 2), batch: 4, rtol: tolerance,
            atol: tolerance, maxSteps: maxSteps)
        return try Sampler.compile(options: options, predictor: field ?? gmm, refiner: nil)
    }

    func testUnconvergedSolveThrowsNamingSampleAndFix() throws {
        // Three steps of at most 5× growth from h = 0.01 reach t ≤ 0.01 + 0.05 + 0.25 < 1: cannot converge.
        let prog = try program(maxSteps: 3, tolerance: 1e-3)
        var out = [Float](repeating: 0, count: 4 * 16)
        XCTAssertThrowsError(try prog.run(seed: 7, firstIndex: 10, count: 4, labels: [0, 1, 2, 3], out: &out)) { e in
            guard let err = e as? Dopri5NotConverged else { return XCTFail("wrong error \(e)") }
            XCTAssertEqual(err.sampleIndex, 10)
            XCTAssertEqual(err.steps, 3)
            XCTAssertLessThan(err.time, 1)
            XCTAssertGreaterThan(err.time, 0)
            XCTAssertTrue(err.description.contains("sample 10"), err.description)
            XCTAssertTrue(err.description.contains("\(Setting.maxSteps)"), err.description)
        }
        // Tolerances far below float64 resolution: a large budget still runs out (rejected steps count).
        let tight = try program(maxSteps: 200, tolerance: 1e-300)
        XCTAssertThrowsError(try tight.run(seed: 7, firstIndex: 0, count: 1, labels: [2], out: &out)) { e in
            XCTAssertEqual((e as? Dopri5NotConverged)?.steps, 200)
        }
    }

    func testConvergedSolveMatchesEnoughBudget() throws {
        var a = [Float](repeating: 0, count: 2 * 16)
        var b = a
        _ = try program(maxSteps: 100_000).run(seed: 3, firstIndex: 0, count: 2, labels: [1, 2], out: &a)
        _ = try program(maxSteps: 1_000).run(seed: 3, firstIndex: 0, count: 2, labels: [1, 2], out: &b)
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "the budget is a limit, not a parameter")
        XCTAssertThrowsError(try program(maxSteps: 0))
    }

    /// The mixture has a float64 form; a wrapper that hides it goes through the float32 evaluator and agrees to
    /// float32 accuracy (the two paths are different code, the same field).
    func testFloat64CapabilitySelectsNativePath() throws {
        XCTAssertNotNil(gmm.float64)
        let hidden = Float32Only(gmm)
        XCTAssertNil(hidden.float64)
        var native = [Float](repeating: 0, count: 3 * 16)
        var viaFloat32 = native
        _ = try program(maxSteps: 100_000).run(seed: 5, firstIndex: 0, count: 3, labels: [0, 3, 4], out: &native)
        _ = try program(maxSteps: 100_000, field: hidden)
            .run(seed: 5, firstIndex: 0, count: 3, labels: [0, 3, 4], out: &viaFloat32)
        for j in native.indices { XCTAssertEqual(native[j], viaFloat32[j], accuracy: 2e-3) }
        XCTAssertNotEqual(native.map(\.bitPattern), viaFloat32.map(\.bitPattern), "both ran the same path")
    }
}

/// A field that forwards to another but offers no float64 form.
final class Float32Only: VelocityField {
    let base: VelocityField
    init(_ base: VelocityField) { self.base = base }
    var sampleShape: [Int] { base.sampleShape }
    var numClasses: Int { base.numClasses }
    var isRefiner: Bool { false }
    var flopsPerRow: Double { 0 }
    func makeEvaluator(maxRows: Int, times: [Float]) -> VelocityEvaluator {
        base.makeEvaluator(maxRows: maxRows, times: times)
    }
}
