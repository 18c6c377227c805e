import FlowTensor
import Foundation
import XCTest

@testable import FlowCluster

/// Eval sets: labels depend only on (seed, i); shards tile the index range; prompt files.
final class EvalSetTests: XCTestCase {
    func testBalancedLabelsAreIModKAndShardsTile() throws {
        let e = try EvalSet(samples: 103, classes: 10, labelMode: .balanced, seed: 5)
        XCTAssertEqual(e.labels(first: 0, count: 103), (0..<103).map { Int32($0 % 10) })
        let shards = e.shards(shardSize: 16)
        XCTAssertEqual(shards.count, 7)
        XCTAssertEqual(shards.flatMap { Array($0) }, Array(0..<103))
    }

    func testRandomLabelsDependOnlyOnSeedAndIndexAndAreRoughlyUniform() throws {
        let e = try EvalSet(samples: 20000, classes: 10, labelMode: .random, seed: 9)
        let all = e.labels(first: 0, count: 20000)
        // Any sharding gives the same labels.
        XCTAssertEqual(e.labels(first: 7000, count: 13), Array(all[7000..<7013]))
        XCTAssertTrue(all.allSatisfy { $0 >= 0 && $0 < 10 })
        // Chi-square test of uniformity, 9 dof: 99.9% quantile is 27.88.
        var counts = [Double](repeating: 0, count: 10)
        for l in all { counts[Int(l)] += 1 }
        let chi2 = counts.reduce(0) { $0 + ($1 - 2000) * ($1 - 2000) / 2000 }
        XCTAssertLessThan(chi2, 27.88)
        let other = try EvalSet(samples: 20000, classes: 10, labelMode: .random, seed: 10)
        XCTAssertNotEqual(other.labels(first: 0, count: 100), Array(all[0..<100]))
    }

    func testPromptFilesLinesAndJSONLAndClearErrors() throws {
        let d = NSTemporaryDirectory() + "prompts-\(getpid())"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        try "a red fox\n\n  two words  \n".write(toFile: d + "/p.txt", atomically: true, encoding: .utf8)
        let e = try EvalSet(promptFile: d + "/p.txt", seed: 0)
        XCTAssertEqual(e.prompts, ["a red fox", "two words"])
        XCTAssertEqual(e.samples, 2)
        XCTAssertThrowsError(try e.check(modelHasText: false, modelSpec: "gmm:synthetic")) {
            XCTAssertTrue("\($0)".contains("no text conditioning"))
        }
        XCTAssertNoThrow(try e.check(modelHasText: true, modelSpec: "t2i"))
        try "{\"prompt\": \"ok\"}\n{\"id\": 1}\n".write(toFile: d + "/bad.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try EvalSet(promptFile: d + "/bad.jsonl", seed: 0)) {
            XCTAssertTrue("\($0)".contains("bad.jsonl:2:"), "\($0)")
        }
        XCTAssertThrowsError(try EvalSet(samples: 0, classes: 10, seed: 0))
    }

    func testShardSizeRoundsUpToTheBatch() {
        var s = RunSpec(model: "m", refiner: nil, plan: "H8", outDir: "/tmp/x")
        s.batch = 8
        s.shardSize = 20
        XCTAssertEqual(s.effectiveShardSize, 24)
        s.shardSize = 0
        XCTAssertEqual(s.effectiveShardSize, 32)
        XCTAssertEqual(RunSpec.dataBind(for: "tcp://*:5555"), "tcp://*:5556")
        XCTAssertEqual(RunSpec.dataBind(for: "tcp://127.0.0.1:0"), "tcp://127.0.0.1:0")
    }
}
