import CAllocCounter
import FlowModels
import XCTest

@testable import FlowSampler

/// Proves `SamplingProgram.run` performs zero heap allocations (malloc hook counts per thread).
final class AllocationTests: XCTestCase {
    func testRunAllocatesNothing() throws {
        let gmm = GaussianMixtureField.synthetic()
        let refiner = MixtureRefiner(base: gmm)
        for (plan, s, step) in [
            ("H2P4R2", Float(2), RefinerStep.heun), ("H1P5R3", 1, .euler), ("E8", 1.5, .heun), ("dopri5", 2, .heun),
        ] {
            let prog = try Sampler.compile(
                options: SamplerOptions(
                    plan: try Plan.parse(plan), guidance: Guidance(scale: s, channels: 3),
                    refinerStep: step, batch: 4),
                predictor: gmm, refiner: refiner)
            let labels = UnsafeMutablePointer<Int32>.allocate(capacity: 4)
            labels.initialize(from: [0, 1, 2, 3], count: 4)
            let out = UnsafeMutablePointer<Float>.allocate(capacity: 4 * 16)
            defer {
                labels.deallocate()
                out.deallocate()
            }
            _ = try prog.run(seed: 1, firstIndex: 0, count: 4, labels: labels, out: out)  // warm-up
            alloc_counter_thread_reset()
            let stats = try prog.run(seed: 1, firstIndex: 4, count: 4, labels: labels, out: out)
            let n = alloc_counter_thread_count()
            XCTAssertEqual(n, 0, "\(plan): \(n) allocations in run()")
            XCTAssertGreaterThan(stats.predictorNFE, 0)
        }
    }

    func testCounterSeesAllocations() {
        // The hook must be live, or the zero above proves nothing.
        alloc_counter_thread_reset()
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 1000)
        p.deallocate()
        XCTAssertGreaterThan(alloc_counter_thread_count(), 0)
    }
}
