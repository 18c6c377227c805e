import CAllocCounter
import FlowTensor
import XCTest

@testable import FlowModels

/// The PixArt-α evaluator's per-batch caption work and its hot path perform no heap allocation.
final class PixArtAllocationTests: XCTestCase {
    func testSetCaptionsAndEvaluateAllocateNothing() {
        // Single-threaded OpenBLAS, as workers run: its multi-threaded dispatch allocates a job queue per call, and
        // the row-invariant products (48-row blocks) are large enough for it to go multi-threaded.
        Gemm.setThreads(1)
        defer { Gemm.setThreads(0) }
        for refiner in [false, true] {
            let cfg = PixArtConfig(
                inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 2, numHeads: 3,
                captionChannels: 5, captionTokens: 4, learnSigma: false, isRefiner: refiner)
            let w = PixArtWeights(config: cfg)
            w.randomize(seed: 1)
            let m = PixArtModel(weights: w)
            let ev = m.makeCaptionEvaluator(maxRows: 4, times: [0, 0.5, 1], maxCaptionLength: 6)
            let n = 4 * cfg.sampleSize
            let x = Buffer(count: n)
            let v = Buffer(count: n)
            let out = Buffer(count: n)
            let feats = Buffer(count: 4 * 6 * 5)
            var mask = [Int32](repeating: 1, count: 24)
            mask[3] = 0
            mask[10] = 0
            var labels: [Int32] = [0, 0, 0, 0]
            let vp: UnsafePointer<Float>? = refiner ? UnsafePointer(v.ptr) : nil
            ev.setCaptions(features: feats.ptr, mask: mask, length: 6, captionRows: 2, rows: 4)
            ev.setLabels(&labels, rows: 4)
            ev.evaluate(x: x.ptr, v: vp, timeIndex: 1, out: out.ptr)
            alloc_counter_thread_reset()
            ev.evaluate(x: x.ptr, v: vp, timeIndex: 2, out: out.ptr)
            let cached = alloc_counter_thread_count()
            alloc_counter_thread_reset()
            ev.evaluate(x: x.ptr, v: vp, t: 0.3, out: out.ptr)
            let general = alloc_counter_thread_count()
            alloc_counter_thread_reset()
            mask.withUnsafeBufferPointer { mp in
                ev.setCaptions(features: feats.ptr, mask: mp.baseAddress!, length: 6, captionRows: 3, rows: 3)
            }
            ev.setLabels(&labels, rows: 3)
            let recaption = alloc_counter_thread_count()
            XCTAssertEqual(cached, 0, "evaluate(timeIndex:) refiner \(refiner)")
            XCTAssertEqual(general, 0, "evaluate(t:) refiner \(refiner)")
            XCTAssertEqual(recaption, 0, "setCaptions + setLabels refiner \(refiner)")
        }
    }
}
