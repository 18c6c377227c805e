import FlowTensor
import Foundation
import XCTest

@testable import FlowModels
@testable import FlowTraining

/// Category weights across checkpoints: a resume keeps the checkpoint's weights bit-identically, a checkpoint
/// without the key resumes uniform, and a change on resume is logged, recorded in the schedule and equals an
/// uninterrupted run that switched at that step.
final class QuadT2ICategoryResumeTests: XCTestCase {
    static let weights = try! QuadCategoryWeights(parsing: "two=3,count=2,empty=0")

    var dir = ""

    override func setUpWithError() throws {
        let tmp = FileManager.default.temporaryDirectory
        dir = tmp.appendingPathComponent("ft-quadw-\(getpid())-\(name.hashValue)").path
        try FileIO.makeDirectories(dir)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static func assertSame(
        _ a: QuadT2ITrainer, _ b: QuadT2ITrainer, file: StaticString = #filePath, line: UInt = #line
    ) {
        for (x, y) in zip(a.trainer.weights.named, b.trainer.weights.named) {
            XCTAssertTrue(x.buffer.array == y.buffer.array, "\(x.name) differs", file: file, line: line)
        }
        for (x, y) in zip(a.ema.shadow, b.ema.shadow) {
            XCTAssertTrue(x.array == y.array, "EMA differs", file: file, line: line)
        }
        XCTAssertEqual(a.adam.t, b.adam.t, file: file, line: line)
    }

    func testResumeKeepsTheCheckpointWeights() throws {
        let straight = try QuadT2ITrainerTests.trainer(steps: 6)
        straight.setCategoryWeights(Self.weights)
        for _ in 0..<6 { straight.trainStep() }
        let cp = dir + "/w.ckpt"
        let first = try QuadT2ITrainerTests.trainer(steps: 6)
        first.setCategoryWeights(Self.weights)
        for _ in 0..<3 { first.trainStep() }
        try first.saveCheckpoint(cp)
        let meta = try SafeTensors.load(cp).metadata
        XCTAssertEqual(meta[QuadCategoryWeights.metadataKey], "single=1,two=3,column=1,row=1,count=2,empty=0")
        XCTAssertEqual(meta[QuadCategoryWeights.scheduleKey], "0:1,3,1,1,2,0")
        let second = try QuadT2ITrainerTests.trainer(steps: 6)
        try second.resume(from: cp)
        XCTAssertEqual(second.categoryWeights, Self.weights, "--resume without the flag uses the checkpoint's")
        XCTAssertNil(second.setCategoryWeights(Self.weights), "the same weights are no change")
        for _ in 0..<3 { second.trainStep() }
        Self.assertSame(straight, second)
        XCTAssertEqual(second.categorySchedule, "0:1,3,1,1,2,0")
        // the weights matter: a uniform run ends elsewhere
        let uniform = try QuadT2ITrainerTests.trainer(steps: 6)
        for _ in 0..<6 { uniform.trainStep() }
        XCTAssertFalse(uniform.trainer.weights.named[0].buffer.array == straight.trainer.weights.named[0].buffer.array)
    }

    /// A checkpoint written before the flag (no weight keys) resumes uniform, bit-identically.
    func testOldCheckpointResumesUniform() throws {
        let straight = try QuadT2ITrainerTests.trainer(steps: 4)
        for _ in 0..<4 { straight.trainStep() }
        let first = try QuadT2ITrainerTests.trainer(steps: 4)
        for _ in 0..<2 { first.trainStep() }
        let cp = dir + "/old.ckpt"
        let shapes = Dictionary(uniqueKeysWithValues: first.trainer.weights.named.map { ($0.name, $0.shape) })
        let old = first.runMetadata().filter { !$0.key.hasPrefix("flowturbo.train_category") }
        try Checkpoint.save(
            cp, params: first.params, shapes: shapes, adam: first.adam, ema: first.ema, step: first.step,
            metadata: old, fixed: first.fixed)
        XCTAssertNil(try SafeTensors.load(cp).metadata[QuadCategoryWeights.metadataKey])
        let second = try QuadT2ITrainerTests.trainer(steps: 4)
        second.setCategoryWeights(Self.weights)  // must be replaced by the checkpoint's (absent: uniform)
        try second.resume(from: cp)
        XCTAssertEqual(second.categoryWeights, .uniform)
        for _ in 0..<2 { second.trainStep() }
        Self.assertSame(straight, second)
    }

    func testChangeOnResumeIsLoggedAndScheduled() throws {
        let straight = try QuadT2ITrainerTests.trainer(steps: 6)
        for _ in 0..<3 { straight.trainStep() }
        straight.setCategoryWeights(Self.weights)
        for _ in 0..<3 { straight.trainStep() }
        let first = try QuadT2ITrainerTests.trainer(steps: 6)
        for _ in 0..<3 { first.trainStep() }
        let cp = dir + "/c.ckpt"
        try first.saveCheckpoint(cp)
        let second = try QuadT2ITrainerTests.trainer(steps: 6)
        try second.resume(from: cp)
        XCTAssertEqual(
            second.setCategoryWeights(Self.weights),
            "category weights change at step 3: single=1,two=1,column=1,row=1,count=1,empty=1 → "
                + "single=1,two=3,column=1,row=1,count=2,empty=0")
        for _ in 0..<3 { second.trainStep() }
        Self.assertSame(straight, second)
        XCTAssertEqual(second.categorySchedule, "0:1,1,1,1,1,1;3:1,3,1,1,2,0")
        // carried into the next checkpoint and the shipped model's metadata
        try second.saveCheckpoint(cp)
        let third = try QuadT2ITrainerTests.trainer(steps: 6)
        try third.resume(from: cp)
        XCTAssertEqual(third.categorySchedule, "0:1,1,1,1,1,1;3:1,3,1,1,2,0")
        XCTAssertEqual(third.categoryWeights, Self.weights)
        let out = dir + "/m.safetensors"
        try second.emaWeights().save(out, extra: second.runMetadata())
        let meta = try SafeTensors.load(out).metadata
        XCTAssertEqual(meta[QuadCategoryWeights.scheduleKey], "0:1,1,1,1,1,1;3:1,3,1,1,2,0")
        XCTAssertEqual(meta[QuadCategoryWeights.metadataKey], Self.weights.description)
    }
}
