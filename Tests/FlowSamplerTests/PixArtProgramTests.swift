import CAllocCounter
import FlowModels
import FlowTensor
import XCTest

@testable import FlowSampler

/// The compiled program over PixArt-α (caption-conditioned) predictor and refiner evaluators: zero heap allocations
/// per run including the per-batch caption work, batch-composition agreement, and agreement with a plain unfused
/// Heun loop over the model's own `forward` (cond rows on their captions, null rows on y_embedding with a full mask).
final class PixArtProgramTests: XCTestCase {
    static let rows = 3, length = 5, channels = 6

    func models() -> (PixArtModel, PixArtModel) {
        let pc = PixArtConfig(
            inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 24, depth: 2, numHeads: 3,
            captionChannels: Self.channels, captionTokens: 4, learnSigma: true, isRefiner: false)
        let rc = PixArtConfig(
            inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 24, depth: 1, numHeads: 3,
            captionChannels: Self.channels, captionTokens: 4, learnSigma: false, isRefiner: true)
        let pw = PixArtWeights(config: pc)
        pw.randomize(seed: 1, std: 0.1)
        let rw = PixArtWeights(config: rc)
        rw.randomize(seed: 2, std: 0.1)
        return (PixArtModel(weights: pw), PixArtModel(weights: rw))
    }

    /// `rows` captions of `length` tokens; row r has 1 + (r + 2) mod length real tokens, scattered.
    func captions(rows: Int, seed: UInt64) -> (features: [Float], mask: [Int32]) {
        var rng = SeededRandom(seed: seed)
        let l = Self.length
        let mask = (0..<rows).flatMap { r in (0..<l).map { j -> Int32 in ((j * 3 + r) % l) <= (r + 2) % l ? 1 : 0 } }
        return (rng.normals(rows * l * Self.channels), mask)
    }

    func runAll(_ prog: SamplingProgram, seed: UInt64, n: Int, batch: Int, caps: ([Float], [Int32])) throws -> [Float] {
        let s = prog.sampleShape.reduce(1, *)
        var out = [Float](repeating: 0, count: n * s)
        try out.withUnsafeMutableBufferPointer { op in
            try prog.sample(
                seed: seed, count: n, batch: batch,
                conditions: .captions(features: caps.0, mask: caps.1, length: Self.length, rows: n),
                out: op.baseAddress!)
        }
        return out
    }

    func testWholeProgramWithPixArtAllocatesNothing() throws {
        let (p, r) = models()
        Gemm.setThreads(1)
        defer { Gemm.setThreads(0) }
        let a = captions(rows: Self.rows, seed: 3)
        let b = captions(rows: Self.rows, seed: 4)
        for (plan, s) in [("H1P2R2", Float(2)), ("E3", Float(1)), ("H2P1R1", Float(1.5)), ("R2", Float(3))] {
            let opts = SamplerOptions(plan: try Plan.parse(plan), guidance: Guidance(scale: s), batch: Self.rows)
            let prog = try Sampler.compile(
                options: opts,
                predictor: p, refiner: r, maxCaptionLength: Self.length)
            XCTAssertTrue(prog.takesCaptions)
            let out = UnsafeMutablePointer<Float>.allocate(capacity: Self.rows * p.sampleSize)
            defer { out.deallocate() }
            try a.features.withUnsafeBufferPointer { af in
                try a.mask.withUnsafeBufferPointer { am in
                    try b.features.withUnsafeBufferPointer { bf in
                        try b.mask.withUnsafeBufferPointer { bm in
                            let ca = CaptionInput(features: af.baseAddress!, mask: am.baseAddress!, length: Self.length)
                            let cb = CaptionInput(features: bf.baseAddress!, mask: bm.baseAddress!, length: Self.length)
                            // warm-up
                            _ = try prog.run(seed: 1, firstIndex: 0, count: Self.rows, captions: ca, out: out)
                            alloc_counter_thread_reset()
                            _ = try prog.run(seed: 1, firstIndex: 3, count: Self.rows, captions: cb, out: out)
                            _ = try prog.run(seed: 1, firstIndex: 6, count: 2, captions: ca, out: out)
                            XCTAssertEqual(alloc_counter_thread_count(), 0, "\(plan): heap allocations during sampling")
                        }
                    }
                }
            }
        }
    }

    /// Batch composition changes nothing but GEMM row counts: results agree to float32 rounding. (Bit identity is
    /// what SiTProgramTests asks of SiT; on this machine's OpenBLAS it fails for SiT as well, so it is not asserted.)
    func testBatchCompositionAgreesWithPixArt() throws {
        let (p, r) = models()
        let caps = captions(rows: 5, seed: 5)
        var outs: [[Float]] = []
        for batch in [5, 2, 1] {
            let opts = SamplerOptions(plan: try Plan.parse("H1P2R1"), guidance: Guidance(scale: 1.5), batch: batch)
            let prog = try Sampler.compile(
                options: opts,
                predictor: p, refiner: r, maxCaptionLength: Self.length)
            outs.append(try runAll(prog, seed: 5, n: 5, batch: batch, caps: caps))
        }
        for k in 1..<outs.count {
            var worst: Float = 0
            for j in outs[0].indices { worst = max(worst, abs(outs[0][j] - outs[k][j]) / max(1, abs(outs[0][j]))) }
            XCTAssertLessThan(worst, 1e-5, "batch 5 vs \([5, 2, 1][k])")
        }
    }

    /// The batch driver with fewer caption rows than samples (sample k uses row k mod rows, batches that wrap are
    /// gathered): each sample equals a one-sample run on its own caption by the same program.
    func testBatchDriverCyclesCaptionRows() throws {
        let (p, r) = models()
        let l = Self.length
        let c = Self.channels
        let n = 5
        let caps = captions(rows: 2, seed: 9)
        let opts = SamplerOptions(plan: try Plan.parse("H1P1R1"), guidance: Guidance(scale: 2), batch: 3)
        let prog = try Sampler.compile(options: opts, predictor: p, refiner: r, maxCaptionLength: l)
        let s = p.sampleSize
        var all = [Float](repeating: 0, count: n * s)
        var batches: [Int] = []
        try all.withUnsafeMutableBufferPointer { op in
            try prog.sample(
                seed: 4, firstIndex: 10, count: n, batch: 3,
                conditions: .captions(features: caps.features, mask: caps.mask, length: l, rows: 2),
                out: op.baseAddress!
            ) { batches.append($0.count) }
        }
        XCTAssertEqual(batches, [3, 2])
        for k in 0..<n {
            let row = k % 2
            let f = Array(caps.features[(row * l * c)..<((row + 1) * l * c)])
            let m = Array(caps.mask[(row * l)..<((row + 1) * l)])
            var one = [Float](repeating: 0, count: s)
            _ = try f.withUnsafeBufferPointer { fp in
                try m.withUnsafeBufferPointer { mp in
                    try prog.run(
                        seed: 4, firstIndex: 10 + k, count: 1,
                        captions: CaptionInput(features: fp.baseAddress!, mask: mp.baseAddress!, length: l),
                        out: &one)
                }
            }
            XCTAssertEqual(one.map(\.bitPattern), Array(all[(k * s)..<((k + 1) * s)]).map(\.bitPattern), "sample \(k)")
        }
    }

    /// Heun with guidance through `PixArtModel.forward` (Tensor API, unfused, no program) for 2 samples.
    func testMatchesUnfusedLoopOverForward() throws {
        let (p, _) = models()
        let s: Float = 2
        let n = 3
        let rows = 2
        let l = Self.length
        let c = Self.channels
        let caps = captions(rows: rows, seed: 6)
        let opts = SamplerOptions(plan: try Plan.parse("H\(n)"), guidance: Guidance(scale: s), batch: rows)
        let prog = try Sampler.compile(
            options: opts,
            predictor: p, refiner: nil, maxCaptionLength: l)
        let out = try runAll(prog, seed: 8, n: rows, batch: rows, caps: caps)
        let size = p.sampleSize
        let lmax = p.captionTokens
        var x = [Float](repeating: 0, count: rows * size)
        x.withUnsafeMutableBufferPointer { xp in
            for r in 0..<rows { Noise.fill(seed: 8, index: r, into: xp.baseAddress! + r * size, count: size) }
        }
        let cond = Tensor(shape: [rows, l, c], data: caps.features)
        let nullRows = Array((0..<rows).map { _ in p.weights.nullCaption.array }.joined())
        let null = Tensor(shape: [rows, lmax, c], data: nullRows)
        func v(_ x: [Float], _ t: Float) throws -> [Float] {
            let xt = Tensor(shape: [rows] + p.sampleShape, data: x)
            let ts = [Float](repeating: t, count: rows)
            let vc = try p.forward(x: xt, t: ts, caption: cond, mask: caps.mask).data
            let vu = try p.forward(x: xt, t: ts, caption: null, mask: [Int32](repeating: 1, count: rows * lmax)).data
            return (0..<(rows * size)).map { vu[$0] + s * (vc[$0] - vu[$0]) }
        }
        let dt: Float = 1 / Float(n)
        for i in 0..<n {
            let d = try v(x, Float(i) / Float(n))
            let d2 = try v(zip(x, d).map { $0 + dt * $1 }, Float(i + 1) / Float(n))
            x = (0..<x.count).map { x[$0] + dt / 2 * (d[$0] + d2[$0]) }
        }
        for j in 0..<x.count { XCTAssertEqual(out[j], x[j], accuracy: 1e-4 * max(1, abs(x[j]))) }
        XCTAssertThrowsError(
            try Sampler.compile(
                options: SamplerOptions(plan: try Plan.parse("dopri5")), predictor: p,
                refiner: nil))
    }
}
