import FlowTensor
import Foundation
import XCTest

@testable import FlowCluster

/// Verification and repair of a run directory without sockets: a hand-built journal and shard files.
final class RunIntegrityTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "integrity-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir + "/run/latents", withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    // 12 samples, shards of 4, 3 classes, sample shape [2].
    let set = try! EvalSet(samples: 12, classes: 3, seed: 7)
    var header: RunHeader {
        RunHeader(
            evalSetId: set.id, samples: 12, classes: 3, labelMode: "balanced", seed: 7, plan: "H2",
            guidanceScale: 1,
            guidanceChannels: 0, batch: 4, shardSize: 4, models: ["predictor=x@0"])
    }

    /// Writes shard `s` as the aggregator does (independent encoding: labels i mod 3 as int32) and returns its commit.
    func writeShard(_ s: Int) throws -> ShardCommit {
        let run = dir + "/run"
        let floats = (0..<8).map { Float(s * 8 + $0) }
        let npy = floats.withUnsafeBytes { NPY.encode(dtype: .float32, shape: [4, 2], body: $0) }
        let labels = (0..<4).map { Int32((s * 4 + $0) % 3) }
        let file = String(format: "latents/shard-%06d.npy", s)
        try FileIO.writeAtomically(run + "/" + file, npy)
        try FileIO.writeAtomically(
            run + "/" + String(format: "latents/shard-%06d.labels.npy", s),
            labels.withUnsafeBytes { NPY.encode(dtype: .int32, shape: [4], body: $0) })
        return ShardCommit(shard: s, first: 4 * s, count: 4, file: file, checksum: CRC32.hex(npy), worker: "w")
    }

    func testCheckFindsEachKindOfDamageAndRepairForgetsOnlyThose() throws {
        let run = dir + "/run"
        let commits = try (0..<3).map(writeShard)
        var outside = commits[2]
        outside.file = "../../outside.npy"  // a resealed record pointing out of the run directory
        try FileIO.writeAtomically(dir + "/outside.npy", try FileIO.read(run + "/" + commits[2].file))
        try Journal.rewrite(
            run + "/journal.log", header: header,
            commits: [
                commits[0], commits[1], outside,
                commits[0],
            ])
        var r = try RunIntegrity.check(outDir: run)
        XCTAssertEqual(r.damaged.map(\.shard), [2])
        XCTAssertTrue(r.damaged[0].reason.contains("refused"), r.damaged[0].reason)
        XCTAssertEqual(r.duplicateRecords, 1)
        XCTAssertFalse(r.complete)

        try Journal.rewrite(run + "/journal.log", header: header, commits: commits)
        XCTAssertTrue(try RunIntegrity.check(outDir: run).complete, "an intact run verifies")
        try RunOutput.writeManifest(outDir: run)
        XCTAssertEqual(try manifest(run)["complete"] as? Bool, true)

        // Damage labels of shard 1 (one label changed), delete shard 0's latents.
        var labels = try FileIO.read(run + "/latents/shard-000001.labels.npy")
        labels[labels.count - 4] ^= 1
        try FileIO.writeAtomically(run + "/latents/shard-000001.labels.npy", labels)
        unlink(run + "/latents/shard-000000.npy")
        r = try RunIntegrity.check(outDir: run)
        XCTAssertEqual(r.damaged.map(\.shard).sorted(), [0, 1])
        try RunOutput.writeManifest(outDir: run)
        XCTAssertEqual(
            try manifest(run)["complete"] as? Bool, false,
            "the manifest must not claim a damaged "
                + "run is complete")
        XCTAssertThrowsError(try RunOutput.loadAll(outDir: run)) {
            XCTAssertEqual(($0 as? FlowError)?.settings, [.resume], "\($0)")
        }

        // A different configuration: repair touches nothing (the coordinator names the difference).
        var other = header
        other.seed = 8
        XCTAssertEqual(try RunIntegrity.repair(outDir: run, expected: other), [])
        XCTAssertEqual(try Journal.read(run + "/journal.log").commits.count, 3)
        // The right configuration: shards 0 and 1 are forgotten and their files removed; shard 2 stays.
        XCTAssertEqual(try RunIntegrity.repair(outDir: run, expected: header).map(\.shard).sorted(), [0, 1])
        XCTAssertEqual(try Journal.read(run + "/journal.log").commits.map(\.shard), [2])
        XCTAssertFalse(FileIO.exists(run + "/latents/shard-000001.labels.npy"))
        XCTAssertTrue(FileIO.exists(run + "/latents/shard-000002.npy"))
    }

    func testOverwriteRemovesOnlyTheRunsOwnFiles() throws {
        let run = dir + "/run"
        let commits = try (0..<2).map(writeShard)
        try Journal.rewrite(run + "/journal.log", header: header, commits: commits)
        try RunOutput.writeManifest(outDir: run)
        // A tampered manifest entry naming a file outside, and user files the run never wrote.
        var m = try manifest(run)
        m["shards"] = (m["shards"] as! [[String: Any]]) + [["shard": 9, "file": "../precious.txt"]]
        try FileIO.writeAtomically(run + "/manifest.json", Array(try JSONSerialization.data(withJSONObject: m)))
        try FileIO.writeAtomically(dir + "/precious.txt", Array("keep".utf8))
        try FileIO.writeAtomically(run + "/notes.txt", Array("keep".utf8))
        try FileIO.writeAtomically(run + "/latents/mine.npy", Array("keep".utf8))
        XCTAssertEqual(RunDirectory.removeRun(run), 2 * 2 + 2, "two shards × (latents, labels) + journal + manifest")
        for keep in [
            dir + "/precious.txt", run + "/notes.txt",
            run + "/latents/mine.npy",
        ] { XCTAssertTrue(FileIO.exists(keep), keep) }
        XCTAssertFalse(FileIO.exists(run + "/journal.log"))
        XCTAssertEqual(RunDirectory.removeRun(dir), 0, "a directory without a run loses nothing")
    }

    func testSuspiciousOutDirectoriesAreRefused() {
        for bad in ["", "  ", "/", "/.", "/tmp/..", "/etc", "a\nb"] {
            XCTAssertThrowsError(try RunDirectory.checkOut(bad), "\(bad.debugDescription)")
        }
        XCTAssertNoThrow(try RunDirectory.checkOut(dir + "/run"))
        XCTAssertNoThrow(try RunDirectory.checkOut("runs/latest"))
    }

    func manifest(_ run: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(try FileIO.read(run + "/manifest.json"))) as! [String: Any]
    }
}
