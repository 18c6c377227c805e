import FlowTensor
import Foundation
import XCTest

@testable import FlowModels
@testable import FlowTraining

/// `--init`: a refiner (or predictor) warm-started from a file holds exactly the file's weights as parameters and
/// EMA, with fresh AdamW and step 0, records the file's name and SHA-256, trains, refuses a file of another
/// config with an error naming the differing fields, and a resumed checkpoint keeps its own record.
final class PixArtWarmStartTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        let tmp = FileManager.default.temporaryDirectory
        dir = tmp.appendingPathComponent("ft-warm-\(getpid())-\(name.hashValue)").path
        try FileIO.makeDirectories(dir)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// SHA-256 from the system tool, independent of the project's implementation.
    static func sha256sum(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        p.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return String(out.prefix { $0 != " " })
    }

    /// A refiner trained a few steps against the shared tiny predictor, saved as a shipped file (EMA weights).
    func refinerFile(depth: Int = 1) throws -> String {
        var o = try QuadRefinerTrainerTests.trainer(steps: 1).options
        o.steps = 4
        var c = QuadRefinerTrainerTests.config()
        c.depth = depth
        let w = PixArtWeights(config: c)
        PixArtInit.official(w, seed: 11)
        let t = try QuadRefinerTrainer(
            weights: w, predictor: QuadRefinerTrainerTests.predictor, predictorDigest: "old",
            data: try QuadCanvasTests.data(),
            pool: QuadT2ITrainerTests.pool, captions: QuadT2ITrainerTests.captions(), options: o)
        for _ in 0..<4 { t.trainStep() }
        let path = dir + "/old-refiner-d\(depth).safetensors"
        try t.emaWeights().save(path, extra: t.runMetadata())
        return path
    }

    /// A fresh refiner trainer (seed-3 init) against `predictor`, whose digest is recorded as "new".
    func refinerTrainer(against predictor: PixArtWeights) throws -> QuadRefinerTrainer {
        let w = PixArtWeights(config: QuadRefinerTrainerTests.config())
        PixArtInit.official(w, seed: 3)
        return try QuadRefinerTrainer(
            weights: w, predictor: PixArtModel(weights: predictor, source: "new predictor"), predictorDigest: "new",
            data: try QuadCanvasTests.data(), pool: QuadT2ITrainerTests.pool,
            captions: QuadT2ITrainerTests.captions(), options: try QuadRefinerTrainerTests.trainer(steps: 2).options)
    }

    func testRefinerWarmStartLoadsTheFileAndTrains() throws {
        let path = try refinerFile()
        let file = try SafeTensors.load(path)
        // a new predictor (untrained weights): the run the refiner is moved to
        let newPred = PixArtWeights(config: QuadT2ITrainerTests.config())
        PixArtInit.official(newPred, seed: 21)
        newPred.randomize(seed: 22)
        let t = try refinerTrainer(against: newPred)
        try t.warmStart(from: path)
        XCTAssertEqual(t.step, 0)
        XCTAssertEqual(t.adam.t, 0)
        for (k, p) in t.params.enumerated() {
            let want = try file.tensor(p.name).data
            XCTAssertTrue(p.param.array == want, "\(p.name) is not the file's")
            XCTAssertTrue(t.ema.shadow[k].array == want, "EMA of \(p.name) is not the file's")
            XCTAssertTrue(t.adam.m[k].array.allSatisfy { $0 == 0 } && t.adam.v[k].array.allSatisfy { $0 == 0 })
        }
        XCTAssertTrue(t.trainer.weights.nullCaption.array == newPred.nullCaption.array, "keeps its predictor's")
        let expect = "old-refiner-d1.safetensors sha256 " + (try Self.sha256sum(path))
        XCTAssertEqual(t.initSource, expect)
        XCTAssertEqual(t.runMetadata()[PixArtWarmStart.metadataKey], expect)
        let before = t.params[0].param.array
        let loss = t.trainStep()
        XCTAssertTrue(loss.isFinite && loss > 0)
        XCTAssertFalse(t.params[0].param.array == before, "a step must move the weights")
        // a checkpoint of the warm-started run keeps the record; resuming it restores it
        let cp = dir + "/r.ckpt"
        try t.saveCheckpoint(cp)
        let r = try refinerTrainer(against: newPred)
        try r.resume(from: cp)
        XCTAssertEqual(r.initSource, expect)
        XCTAssertEqual(r.step, 1)
    }

    func testMismatchedConfigIsRefused() throws {
        let path = try refinerFile(depth: 2)
        let t = try QuadRefinerTrainerTests.trainer(steps: 1)
        let before = t.params.map(\.param.array)
        XCTAssertThrowsError(try t.warmStart(from: path)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("depth 2 vs 1"), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
        XCTAssertTrue(t.params.map(\.param.array) == before, "a refused file must not change the weights")
        XCTAssertNil(t.initSource)
        // a predictor file is not a refiner
        let pred = dir + "/pred.safetensors"
        try QuadRefinerTrainerTests.predictor.weights.save(pred)
        XCTAssertThrowsError(try t.warmStart(from: pred)) { e in XCTAssertTrue("\(e)".contains("isRefiner"), "\(e)") }
    }

    func testPredictorWarmStart() throws {
        let src = try QuadT2ITrainerTests.trainer(steps: 3)
        for _ in 0..<3 { src.trainStep() }
        src.trainer.weights.nullCaption.copy(
            from: [Float](repeating: 0.25, count: src.trainer.weights.nullCaption.count))
        let path = dir + "/pred.safetensors"
        try src.emaWeights().save(path)
        let file = try SafeTensors.load(path)
        let t = try QuadT2ITrainerTests.trainer(steps: 2)
        try t.warmStart(from: path)
        for (k, p) in t.params.enumerated() {
            XCTAssertTrue(p.param.array == (try file.tensor(p.name).data), p.name)
            XCTAssertTrue(t.ema.shadow[k].array == (try file.tensor(p.name).data), p.name)
        }
        XCTAssertTrue(t.trainer.weights.nullCaption.array.allSatisfy { $0 == 0.25 }, "the file's null caption")
        XCTAssertEqual(t.step, 0)
        XCTAssertTrue(t.trainStep().isFinite)
    }
}
