import CAllocCounter
import FlowModels
import FlowTensor
import XCTest

@testable import FlowSampler

/// The compiled program over real SiT predictor/refiner evaluators (small random networks): no allocations added by the program,
/// batch-composition bit-identity, and agreement with a plain unfused loop over the model's own `forward`.
final class SiTProgramTests: XCTestCase {
    func models() -> (SiTModel, SiTModel) {
        let pc = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 32, depth: 2, numHeads: 2,
            numClasses: 3, learnSigma: true, isRefiner: false)
        let rc = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 32, depth: 1, numHeads: 2,
            numClasses: 3, learnSigma: false, isRefiner: true)
        let pw = SiTWeights(config: pc)
        pw.randomize(seed: 1, std: 0.1)
        let rw = SiTWeights(config: rc)
        rw.randomize(seed: 2, std: 0.1)
        return (SiTModel(weights: pw), SiTModel(weights: rw))
    }

    /// The SiT evaluator and OpenBLAS may allocate inside model calls (the model's concern, measured separately);
    /// the program itself — noise, guidance, solver updates, bookkeeping — must add zero allocations around them.
    func testProgramAddsZeroAllocationsAroundSiT() throws {
        let (p, r) = models()
        for (plan, s) in [("H1P2R2", Float(2)), ("E3", Float(1))] {
            let pm = AllocMeasuringField(p)
            let rm = AllocMeasuringField(r)
            let prog = try Sampler.compile(
                options: SamplerOptions(
                    plan: try Plan.parse(plan), guidance: Guidance(scale: s, channels: 3), batch: 3),
                predictor: pm, refiner: rm)
            let labels = UnsafeMutablePointer<Int32>.allocate(capacity: 3)
            labels.initialize(from: [0, 2, 3], count: 3)
            let out = UnsafeMutablePointer<Float>.allocate(capacity: 3 * 256)
            defer {
                labels.deallocate()
                out.deallocate()
            }
            _ = try prog.run(seed: 1, firstIndex: 0, count: 3, labels: labels, out: out)
            pm.inside = 0
            rm.inside = 0
            alloc_counter_thread_reset()
            _ = try prog.run(seed: 1, firstIndex: 3, count: 3, labels: labels, out: out)
            let total = alloc_counter_thread_count()
            XCTAssertEqual(total - pm.inside - rm.inside, 0, "\(plan): program allocations outside model calls")
            if pm.inside + rm.inside > 0 {
                print(
                    "note: \(plan): \(pm.inside + rm.inside) allocations inside SiT evaluator calls (setLabels/evaluate/BLAS)"
                )
            }
        }
    }

    /// End to end: a compiled program over real SiT predictor and refiner evaluators performs zero heap
    /// allocations per run (model calls, BLAS, guidance and solver updates included), after one warm-up run.
    func testWholeProgramWithSiTAllocatesNothing() throws {
        let (p, r) = models()
        Gemm.setThreads(1)  // as workers run; OpenBLAS's multi-threaded dispatch allocates job queues per call
        defer { Gemm.setThreads(0) }
        for (plan, s) in [
            ("H1P2R2", Float(2)), ("E3", Float(1)), ("E3", Float(2)), ("H2P1", Float(1)), ("R2", Float(1)),
            ("H2P1R1", Float(1.5)),
        ] {
            let prog = try Sampler.compile(
                options: SamplerOptions(plan: try Plan.parse(plan), guidance: Guidance(scale: s), batch: 3),
                predictor: p, refiner: r)
            let labels = UnsafeMutablePointer<Int32>.allocate(capacity: 3)
            labels.initialize(from: [0, 2, 3], count: 3)
            let out = UnsafeMutablePointer<Float>.allocate(capacity: 3 * 256)
            defer {
                labels.deallocate()
                out.deallocate()
            }
            _ = try prog.run(seed: 1, firstIndex: 0, count: 3, labels: labels, out: out)
            alloc_counter_thread_reset()
            _ = try prog.run(seed: 1, firstIndex: 3, count: 3, labels: labels, out: out)
            _ = try prog.run(seed: 1, firstIndex: 6, count: 2, labels: labels, out: out)
            XCTAssertEqual(alloc_counter_thread_count(), 0, "\(plan): heap allocations during sampling")
        }
    }

    /// What the cluster relies on: with one batch size, sample i's bytes depend only on (seed, i, label), not on its
    /// neighbours in the batch or the order batches run in. Across batch sizes the GEMM row count changes and
    /// optimised BLAS kernels (OpenBLAS Haswell/SkylakeX) pick different algorithms by matrix size, so rows agree
    /// to float rounding only (the generic Prescott kernels happen to be bit-identical there too).
    func testBatchCompositionWithSiT() throws {
        let (p, r) = models()
        let labels: [Int32] = [0, 1, 2, 3, 1, 0, 2]
        var neighbours = labels
        neighbours[1] = 3
        neighbours[4] = 2
        func program(_ batch: Int) throws -> SamplingProgram {
            try Sampler.compile(
                options: SamplerOptions(
                    plan: try Plan.parse("H1P2R1"), guidance: Guidance(scale: 1.5),
                    batch: batch), predictor: p, refiner: r)
        }
        let a = try runAll(try program(3), seed: 5, n: 7, labels: labels, batch: 3)
        let b = try runAll(try program(3), seed: 5, n: 7, labels: neighbours, batch: 3)
        let s = a.count / 7
        for i in [0, 2, 3, 5, 6] {
            XCTAssertEqual(
                a[(i * s)..<((i + 1) * s)].map(\.bitPattern), b[(i * s)..<((i + 1) * s)].map(\.bitPattern),
                "sample \(i) changed with its neighbours' labels")
        }
        // Batches in another order, each by a fresh program: same bytes.
        let prog = try program(3)
        var c = [Float](repeating: 0, count: a.count)
        for first in [6, 3, 0] {
            let n = min(3, 7 - first)
            var out = [Float](repeating: 0, count: n * s)
            _ = try prog.run(
                seed: 5, firstIndex: first, count: n, labels: Array(labels[first..<(first + n)]), out: &out)
            c.replaceSubrange((first * s)..<((first + n) * s), with: out)
        }
        XCTAssertEqual(a.map(\.bitPattern), c.map(\.bitPattern), "batch order")
        for batch in [7, 1] {
            let d = try runAll(try program(batch), seed: 5, n: 7, labels: labels, batch: batch)
            let scale = a.map { abs($0) }.max()!
            let worst = zip(a, d).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-4 * scale, "batch \(batch) vs 3")
        }
    }

    /// Heun with guidance through `SiTModel.forward` (Tensor API, unfused, no program) for 2 samples.
    func testMatchesUnfusedLoopOverForward() throws {
        let (p, _) = models()
        let s: Float = 2
        let n = 3
        let prog = try Sampler.compile(
            options: SamplerOptions(plan: try Plan.parse("H\(n)"), guidance: Guidance(scale: s), batch: 2),
            predictor: p, refiner: nil)
        let labels: [Int32] = [1, 2]
        let out = try runAll(prog, seed: 8, n: 2, labels: labels, batch: 2)
        let size = 256
        var x = [Float](repeating: 0, count: 2 * size)
        Noise.fill(seed: 8, index: 0, into: &x, count: size)
        x.withUnsafeMutableBufferPointer { Noise.fill(seed: 8, index: 1, into: $0.baseAddress! + size, count: size) }
        func v(_ x: [Float], _ t: Float) throws -> [Float] {
            let both = Tensor(shape: [4, 4, 8, 8], data: x + x)
            let o = try p.forward(x: both, t: [t, t, t, t], y: labels + [3, 3]).data
            return (0..<(2 * size)).map { o[2 * size + $0] + s * (o[$0] - o[2 * size + $0]) }
        }
        let dt: Float = 1 / Float(n)
        for i in 0..<n {
            let t0 = Float(i) / Float(n)
            let t1 = Float(i + 1) / Float(n)
            let d = try v(x, t0)
            let xt = zip(x, d).map { $0 + dt * $1 }
            let d2 = try v(xt, t1)
            x = (0..<x.count).map { x[$0] + dt / 2 * (d[$0] + d2[$0]) }
        }
        for j in 0..<x.count { XCTAssertEqual(out[j], x[j], accuracy: 1e-4 * max(1, abs(x[j]))) }
    }
}

/// Forwards to a field and counts the allocations made inside its evaluator's calls (thread counter deltas).
final class AllocMeasuringField: VelocityField {
    let inner: VelocityField
    var inside: UInt64 = 0
    init(_ inner: VelocityField) { self.inner = inner }
    var sampleShape: [Int] { inner.sampleShape }
    var numClasses: Int { inner.numClasses }
    var isRefiner: Bool { inner.isRefiner }
    var flopsPerRow: Double { inner.flopsPerRow }
    func makeEvaluator(maxRows: Int, times: [Float]) -> VelocityEvaluator {
        Eval(self, inner.makeEvaluator(maxRows: maxRows, times: times))
    }
    final class Eval: VelocityEvaluator {
        unowned let owner: AllocMeasuringField
        let inner: VelocityEvaluator
        init(_ o: AllocMeasuringField, _ i: VelocityEvaluator) {
            owner = o
            inner = i
        }
        func setLabels(_ l: UnsafePointer<Int32>, rows: Int) {
            let a = alloc_counter_thread_count()
            inner.setLabels(l, rows: rows)
            owner.inside += alloc_counter_thread_count() - a
        }
        func evaluate(
            x: UnsafePointer<Float>, v: UnsafePointer<Float>?, timeIndex: Int, out: UnsafeMutablePointer<Float>
        ) {
            let a = alloc_counter_thread_count()
            inner.evaluate(x: x, v: v, timeIndex: timeIndex, out: out)
            owner.inside += alloc_counter_thread_count() - a
        }
        func evaluate(x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: Float, out: UnsafeMutablePointer<Float>) {
            let a = alloc_counter_thread_count()
            inner.evaluate(x: x, v: v, t: t, out: out)
            owner.inside += alloc_counter_thread_count() - a
        }
    }
}
