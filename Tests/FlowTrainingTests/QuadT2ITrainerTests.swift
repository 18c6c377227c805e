import FlowTensor
import Foundation
import XCTest

@testable import FlowModels
@testable import FlowTraining

/// Text-to-image training on quad canvases with a tiny PixArt and synthetic caption features: N steps straight
/// equal N/2 + checkpoint + resume + N/2 bit for bit, the checkpoint loads as a model, and the loss falls.
final class QuadT2ITrainerTests: XCTestCase {
    static let pool = QuadCaptionPool(
        seed: 1,
        perSpec: [
            .single: 1, .two: 1, .column: 1, .row: 1, .count: 1,
            .empty: 1,
        ])

    static func config() -> PixArtConfig {
        var c = PixArtConfig(
            inputSize: 32, patchSize: 8, inChannels: 1, hiddenSize: 16, depth: 2, numHeads: 2,
            mlpRatio: 2, captionChannels: 8, captionTokens: 5, learnSigma: false, isRefiner: false)
        c.frequencyEmbeddingSize = 16
        return c
    }

    /// Random token features (L = 4, C = 8) with 2–4 real tokens per caption.
    static func captions() -> CaptionBatch {
        let n = pool.entries.count
        let l = 4
        let c = 8
        var rng = SeededRandom(seed: 2)
        var f = [Float](repeating: 0, count: n * l * c)
        var m = [Int32](repeating: 0, count: n * l)
        for r in 0..<n {
            let real = 2 + Int(rng.next() % 3)
            for j in 0..<real {
                m[r * l + j] = 1
                for k in 0..<c { f[(r * l + j) * c + k] = Float(rng.normal()) }
            }
        }
        return CaptionBatch(features: Tensor(shape: [n, l, c], data: f), mask: m)
    }

    static func trainer(
        steps: Int, lr: Float = 3e-3, drop: Double = 0.3,
        captions: CaptionBatch = captions()
    ) throws -> QuadT2ITrainer {
        var o = TrainOptions()
        o.steps = steps
        o.batch = 6
        o.lr = lr
        o.warmup = 2
        o.seed = 9
        o.labelDrop = drop
        o.logEvery = 1000
        o.checkpointEvery = 0
        let w = PixArtWeights(config: config())
        PixArtInit.official(w, seed: 4)
        return try QuadT2ITrainer(
            weights: w, data: try QuadCanvasTests.data(), pool: pool, captions: captions,
            options: o)
    }

    func testResumeIsBitIdentical() throws {
        let straight = try Self.trainer(steps: 6)
        for _ in 0..<6 { straight.trainStep() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ft-quad-\(getpid())").path
        try FileIO.makeDirectories(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cp = dir + "/quad.ckpt"
        let first = try Self.trainer(steps: 6)
        for _ in 0..<3 { first.trainStep() }
        try first.saveCheckpoint(cp)
        let second = try Self.trainer(steps: 6)
        second.trainer.weights.nullCaption.fill(0)  // must come back from the checkpoint
        try second.resume(from: cp)
        XCTAssertEqual(second.step, 3)
        for _ in 0..<3 { second.trainStep() }
        for (a, b) in zip(straight.trainer.weights.named, second.trainer.weights.named) {
            XCTAssertTrue(a.buffer.array == b.buffer.array, "\(a.name) differs after resume")
        }
        for (a, b) in zip(straight.ema.shadow, second.ema.shadow) { XCTAssertTrue(a.array == b.array, "EMA differs") }
        XCTAssertEqual(straight.adam.t, second.adam.t)
        // the checkpoint is also a model file with the config in its metadata
        let m = try PixArtModel.load(cp)
        XCTAssertEqual(m.config, Self.config())
        // the EMA export keeps the fixed null caption
        XCTAssertTrue(straight.emaWeights().nullCaption.array == straight.trainer.weights.nullCaption.array)
        // a different model refuses the checkpoint with an error
        var other = Self.config()
        other.depth = 1
        let wrong = try QuadT2ITrainer(
            weights: PixArtWeights(config: other), data: try QuadCanvasTests.data(),
            pool: Self.pool, captions: Self.captions(), options: straight.options)
        XCTAssertThrowsError(try wrong.resume(from: cp))
    }

    /// Caption drop 1 trains on the null caption only: the caption features cannot matter. Drop 0: they do.
    func testCaptionDropUsesTheNullCaption() throws {
        let a = Self.captions()
        let b = CaptionBatch(
            features: Tensor(shape: a.features.shape, data: a.features.data.map { $0 * 0.5 + 0.1 }),
            mask: a.mask)
        func trained(_ drop: Double, _ c: CaptionBatch) throws -> [Float] {
            let t = try Self.trainer(steps: 3, drop: drop, captions: c)
            for _ in 0..<3 { t.trainStep() }
            return t.trainer.weights.named.flatMap { $0.buffer.array }
        }
        XCTAssertTrue(try trained(1, a) == trained(1, b), "dropped rows must read y_embedding, not the caption")
        XCTAssertFalse(try trained(0, a) == trained(0, b), "kept rows must read their caption")
    }

    func testLossFalls() throws {
        let t = try Self.trainer(steps: 60, lr: 1e-2)
        var early = 0.0
        var late = 0.0
        for s in 0..<60 {
            let l = t.trainStep()
            if s < 5 { early += l / 5 }
            if s >= 55 { late += l / 5 }
        }
        // at init the output is 0, so the loss is E‖x1 − x0‖² ≈ 1 + E x1² ≈ 1.9; a trained net does far better
        XCTAssertLessThan(late, 0.8 * early)
    }
}
