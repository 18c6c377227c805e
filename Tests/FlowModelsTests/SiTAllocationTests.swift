import CAllocCounter
import FlowTensor
import XCTest

@testable import FlowModels

/// The SiT evaluator's hot path (evaluate after setLabels) performs no heap allocation.
final class SiTAllocationTests: XCTestCase {
    func testSgemmAllocatesNothing() {
        Gemm.setThreads(1)  // as workers run (multi-threaded OpenBLAS allocates a job queue per call)
        defer { Gemm.setThreads(0) }
        let a = Buffer(count: 64 * 64)
        let b = Buffer(count: 64 * 64)
        let c = Buffer(count: 64 * 64)
        Gemm.sgemm(m: 64, n: 64, k: 64, a: a.ptr, b: b.ptr, c: c.ptr)
        alloc_counter_thread_reset()
        Gemm.sgemm(m: 64, n: 64, k: 64, a: a.ptr, b: b.ptr, c: c.ptr)
        Gemm.sgemm(transB: true, m: 5, n: 7, k: 3, a: a.ptr, b: b.ptr, c: c.ptr)
        XCTAssertEqual(alloc_counter_thread_count(), 0)
    }

    func testEvaluateAllocatesNothing() {
        // Single-threaded OpenBLAS, as workers run: its multi-threaded dispatch allocates a job queue per call, and
        // the row-invariant products (48-row blocks) are large enough for it to go multi-threaded.
        Gemm.setThreads(1)
        defer { Gemm.setThreads(0) }
        for refiner in [false, true] {
            let cfg = SiTConfig(
                inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 2, numHeads: 3,
                numClasses: 3, learnSigma: false, isRefiner: refiner)
            let w = SiTWeights(config: cfg)
            w.randomize(seed: 1)
            let m = SiTModel(weights: w)
            let ev = m.makeEvaluator(maxRows: 4, times: [0, 0.5, 1])
            let x = Buffer(count: 4 * cfg.sampleSize)
            let v = Buffer(count: 4 * cfg.sampleSize)
            let out = Buffer(count: 4 * cfg.sampleSize)
            var labels: [Int32] = [0, 1, 2, 3]
            ev.setLabels(&labels, rows: 4)
            let vp: UnsafePointer<Float>? = refiner ? UnsafePointer(v.ptr) : nil
            ev.evaluate(x: x.ptr, v: vp, timeIndex: 1, out: out.ptr)
            alloc_counter_thread_reset()
            ev.evaluate(x: x.ptr, v: vp, timeIndex: 2, out: out.ptr)
            let cached = alloc_counter_thread_count()
            alloc_counter_thread_reset()
            ev.evaluate(x: x.ptr, v: vp, t: 0.3, out: out.ptr)
            let general = alloc_counter_thread_count()
            alloc_counter_thread_reset()
            ev.setLabels(&labels, rows: 3)
            let relabel = alloc_counter_thread_count()
            XCTAssertEqual(cached, 0, "evaluate(timeIndex:) refiner \(refiner)")
            XCTAssertEqual(general, 0, "evaluate(t:) refiner \(refiner)")
            XCTAssertEqual(relabel, 0, "setLabels refiner \(refiner)")
        }
    }
}
