import FlowTensor
import Foundation
import XCTest

@testable import FlowModels
@testable import FlowTraining

/// Refiner training against a tiny text-to-image predictor (itself trained a few steps so its velocity is not 0):
/// the loss falls, N straight steps equal N/2 + checkpoint + resume + N/2 bit for bit, the objective vanishes as
/// Δt → 0 (the untrained refiner returns v, and v_θ(x + Δt·v, t + Δt) → v_θ(x, t)), and the checkpoint loads as a
/// PixArt refiner with the predictor's null caption.
final class QuadRefinerTrainerTests: XCTestCase {
    /// A predictor trained 40 steps (its weights, with a non-zero output layer).
    static let predictor: PixArtModel = {
        let t = try! QuadT2ITrainerTests.trainer(steps: 40, lr: 1e-2)
        for _ in 0..<40 { t.trainStep() }
        return PixArtModel(weights: t.trainer.weights, source: "in-memory predictor")
    }()

    static func config() -> PixArtConfig {
        var c = QuadT2ITrainerTests.config()
        c.isRefiner = true
        c.depth = 1
        return c
    }

    static func trainer(steps: Int, lr: Float = 3e-3, maxDeltaT: Double = 0.12) throws -> QuadRefinerTrainer {
        var o = TrainOptions()
        o.steps = steps
        o.batch = 6
        o.lr = lr
        o.warmup = 2
        o.seed = 5
        o.labelDrop = 0.3
        o.logEvery = 1000
        o.checkpointEvery = 0
        let w = PixArtWeights(config: config())
        PixArtInit.official(w, seed: 3)
        let t = try QuadRefinerTrainer(
            weights: w, predictor: predictor, predictorDigest: "feed",
            data:
                try QuadCanvasTests.data(), pool: QuadT2ITrainerTests.pool,
            captions: QuadT2ITrainerTests.captions(), options: o)
        t.maxDeltaT = maxDeltaT
        return t
    }

    func testLossFalls() throws {
        let t = try Self.trainer(steps: 80, lr: 1e-2)
        var early = 0.0
        var late = 0.0
        for s in 0..<80 {
            let l = t.trainStep()
            if s < 5 { early += l / 5 }
            if s >= 75 { late += l / 5 }
        }
        XCTAssertGreaterThan(early, 0)
        XCTAssertLessThan(late, 0.7 * early, "refiner loss \(early) → \(late)")
    }

    /// At initialisation the refiner returns v exactly, so the loss is mean‖v_θ(x_t + Δt·v, t + Δt) − v_θ(x_t, t)‖²,
    /// which must shrink with Δt (a smooth network: roughly ∝ Δt²).
    func testInitialLossVanishesWithDeltaT() throws {
        let big = try Self.trainer(steps: 1, maxDeltaT: 0.12).trainStep()
        let small = try Self.trainer(steps: 1, maxDeltaT: 0.0012).trainStep()
        XCTAssertGreaterThan(big, 0)
        XCTAssertLessThan(small, 1e-2 * big, "loss at Δt ≤ 0.12: \(big), at Δt ≤ 0.0012: \(small)")
    }

    func testResumeIsBitIdentical() throws {
        let straight = try Self.trainer(steps: 6)
        for _ in 0..<6 { straight.trainStep() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ft-quadref-\(getpid())").path
        try FileIO.makeDirectories(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cp = dir + "/refiner.ckpt"
        let first = try Self.trainer(steps: 6)
        for _ in 0..<3 { first.trainStep() }
        try first.saveCheckpoint(cp)
        let second = try Self.trainer(steps: 6)
        try second.resume(from: cp)
        XCTAssertEqual(second.step, 3)
        for _ in 0..<3 { second.trainStep() }
        for (a, b) in zip(straight.trainer.weights.named, second.trainer.weights.named) {
            XCTAssertTrue(a.buffer.array == b.buffer.array, "\(a.name) differs after resume")
        }
        for (a, b) in zip(straight.ema.shadow, second.ema.shadow) { XCTAssertTrue(a.array == b.array, "EMA differs") }
        // the checkpoint loads as a refiner with the predictor's null caption, and refuses to load as a predictor
        let m = try PixArtModel.load(cp, refiner: true)
        XCTAssertEqual(m.config, Self.config())
        XCTAssertTrue(m.weights.nullCaption.array == Self.predictor.weights.nullCaption.array)
        XCTAssertThrowsError(try PixArtModel.load(cp, refiner: false))
        let meta = try SafeTensors.load(cp).metadata
        XCTAssertEqual(meta[QuadRefinerTrainer.predictorDigestKey], "feed")
        XCTAssertEqual(meta["flowturbo.train_objective"], "flowturbo-refiner")
        // a checkpoint of another predictor is refused
        var o = straight.options
        o.steps = 6
        let other = try QuadRefinerTrainer(
            weights: PixArtWeights(config: Self.config()), predictor: Self.predictor, predictorDigest: "beef",
            data: try QuadCanvasTests.data(), pool: QuadT2ITrainerTests.pool, captions: QuadT2ITrainerTests.captions(),
            options: o)
        XCTAssertThrowsError(try other.resume(from: cp))
    }
}
