import FlowTensor
import Foundation
import XCTest

@testable import FlowCluster

/// A fresh run directory with `latents/`, removed after `test`.
private func shardLogRun(_ test: XCTestCase) throws -> String {
    let d = NSTemporaryDirectory() + "shardlog-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try PrivateFiles.makeDirectory(d)
    try PrivateFiles.makeSubdirectory(d + "/latents")
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
    return d
}

/// One shard's files: `rows` float32 values and labels derived from the shard id.
private func shardLogEntry(_ shard: Int, rows: Int) -> ShardLog.Entry {
    let floats = (0..<rows).map { Float(shard * 100 + $0) }
    let latents = floats.withUnsafeBytes { NPY.encode(dtype: .float32, shape: [rows, 1], body: $0) }
    let labels = [Int32](repeating: Int32(shard), count: rows)
    let labelBytes = labels.withUnsafeBytes { NPY.encode(dtype: .int32, shape: [rows], body: $0) }
    return ShardLog.Entry(shard: shard, latents: latents, labels: labelBytes, json: Array("{\"s\":\(shard)}".utf8))
}

/// The shard write-ahead log behind group commit: records round-trip, a torn or corrupt tail is ignored, and
/// recovery restores exactly the journaled shards whose files were lost (a power loss after the log fsync), with
/// the bytes the log holds, and nothing that was never journaled.
final class ShardLogTests: XCTestCase {
    func tempRun() throws -> String { try shardLogRun(self) }

    func entry(_ shard: Int, rows: Int) -> ShardLog.Entry { shardLogEntry(shard, rows: rows) }

    func testRecordsRoundTripAndTornTailIsIgnored() {
        let a = entry(0, rows: 3)
        let b = entry(7, rows: 5)
        let bytes = ShardLog.encode(a) + ShardLog.encode(b)
        XCTAssertEqual(ShardLog.decode(bytes), [a, b])
        // Independent layout check: magic, shard id little-endian, then the three lengths.
        XCTAssertEqual(Array(bytes[0..<4]), Array("FTW1".utf8))
        XCTAssertEqual(bytes[4], 0)
        XCTAssertEqual(Int(bytes[12]) | Int(bytes[13]) << 8, a.latents.count)
        for cut in [1, 4, 40, ShardLog.encode(b).count - 1] {
            XCTAssertEqual(ShardLog.decode(Array(bytes.dropLast(cut))), [a], "torn by \(cut) bytes")
        }
        var flipped = bytes
        flipped[ShardLog.encode(a).count + 50] ^= 0x40
        XCTAssertEqual(ShardLog.decode(flipped), [a], "a corrupt record ends the log")
    }

    func testRecoverRestoresOnlyJournaledShards() throws {
        let run = try tempRun()
        let header = RunHeader(
            evalSetId: "x", samples: 12, classes: 1, labelMode: "cycle", seed: 0, plan: "p",
            guidanceScale: 1, guidanceChannels: 0, batch: 4, shardSize: 4, models: [])
        let journal = try Journal.create(run + "/journal.log", header: header)
        let e0 = entry(0, rows: 4)
        let e1 = entry(1, rows: 4)
        let e2 = entry(2, rows: 4)
        let log = ShardLog(outDir: run)
        try log.append([e0, e1])
        try log.append([e2])
        // Shards 0 and 2 were journaled, 1 was not (crash before its journal line).
        for (e, s) in [(e0, 0), (e2, 2)] {
            try journal.append(
                ShardCommit(
                    shard: s, first: 4 * s, count: 4, file: Aggregator.latentsFile(shard: s),
                    checksum: CRC32.hex(e.latents), worker: "w"))
        }
        journal.close()
        // Shard 0's latents were torn, shard 2's files never reached the disk.
        try FileIO.writeAtomically(run + "/latents/shard-000000.npy", Array(e0.latents.prefix(10)))
        XCTAssertEqual(try ShardLog.recover(outDir: run), [0, 2])
        for (e, s) in [(e0, 0), (e2, 2)] {
            let base = run + "/" + String(Aggregator.latentsFile(shard: s).dropLast(4))
            XCTAssertEqual(try FileIO.read(base + ".npy"), e.latents)
            XCTAssertEqual(try FileIO.read(base + ".labels.npy"), e.labels)
            XCTAssertEqual(try FileIO.read(base + ".json"), e.json)
        }
        XCTAssertFalse(FileIO.exists(run + "/latents/shard-000001.npy"), "never journaled: computed again")
        XCTAssertFalse(FileIO.exists(ShardLog.path(outDir: run)), "recovery removes the log")
        let r = try RunIntegrity.check(outDir: run)
        XCTAssertEqual(r.intact.map(\.shard), [0, 2])
        XCTAssertEqual(r.damaged, [])
        XCTAssertEqual(try ShardLog.recover(outDir: run), [], "no log: nothing to do")
    }

    func testCheckpointRemovesTheLog() throws {
        let run = try tempRun()
        let log = ShardLog(outDir: run)
        try log.append([entry(3, rows: 2)])
        XCTAssertEqual(try FileIO.read(ShardLog.path(outDir: run)), ShardLog.encode(entry(3, rows: 2)))
        XCTAssertEqual(PrivateFiles.mode(ShardLog.path(outDir: run)), 0o600)
        try log.checkpoint()
        XCTAssertFalse(FileIO.exists(ShardLog.path(outDir: run)))
        try log.append([entry(4, rows: 2)])
        XCTAssertEqual(ShardLog.decode(try FileIO.read(ShardLog.path(outDir: run))), [entry(4, rows: 2)])
    }
}

/// Log segments and the materializer that writes shard files off the commit path.
final class ShardLogSegmentTests: XCTestCase {
    func tempRun() throws -> String { try shardLogRun(self) }

    func entry(_ shard: Int, rows: Int) -> ShardLog.Entry { shardLogEntry(shard, rows: rows) }

    func journal(_ run: String, _ entries: [ShardLog.Entry]) throws {
        let header = RunHeader(
            evalSetId: "x", samples: 16, classes: 1, labelMode: "cycle", seed: 0, plan: "p",
            guidanceScale: 1, guidanceChannels: 0, batch: 4, shardSize: 4, models: [])
        let j = try Journal.create(run + "/journal.log", header: header)
        for e in entries {
            try j.append(
                ShardCommit(
                    shard: e.shard, first: 4 * e.shard, count: 4, file: Aggregator.latentsFile(shard: e.shard),
                    checksum: CRC32.hex(e.latents), worker: "w"))
        }
        j.close()
    }

    func files(_ run: String, _ shard: Int) -> [[UInt8]?] {
        let base = run + "/" + String(Aggregator.latentsFile(shard: shard).dropLast(4))
        return [".npy", ".labels.npy", ".json"].map { try? FileIO.read(base + $0) }
    }

    func testAppendWritesNoShardFilesAndCheckpointWritesThemAll() throws {
        let run = try tempRun()
        let log = ShardLog(outDir: run)
        let es = (0..<4).map { entry($0, rows: 4) }
        try log.append(Array(es[0..<2]))
        try log.append(Array(es[2..<4]))
        XCTAssertEqual(files(run, 1), [nil, nil, nil], "the commit path writes only the log")
        XCTAssertEqual(ShardLog.segments(outDir: run), [ShardLog.path(outDir: run)])
        try log.seal()
        XCTAssertEqual(
            ShardLog.segments(outDir: run).map { ($0 as NSString).lastPathComponent }, ["shards-000001.wal"])
        try log.checkpoint()
        XCTAssertEqual(ShardLog.segments(outDir: run), [], "applied segments are removed")
        for e in es { XCTAssertEqual(files(run, e.shard), [e.latents, e.labels, e.json]) }
        XCTAssertEqual(PrivateFiles.mode(run + "/latents/shard-000002.npy"), 0o600)
        XCTAssertEqual(log.materializer.stats.files, 12)
        XCTAssertEqual(log.materializer.stats.segments, 1)
    }

    func testRecoverReadsEverySegmentInOrderLatestRecordWins() throws {
        let run = try tempRun()
        let log = ShardLog(outDir: run)
        var old = entry(1, rows: 4)
        old.json = Array("{\"old\":1}".utf8)
        let new = entry(1, rows: 4)
        let other = entry(2, rows: 4)
        try log.append([old])
        // Sealed by hand, as if the materializer had not run yet (a crash): segment 1 holds `old`.
        XCTAssertEqual(rename(ShardLog.path(outDir: run), run + "/latents/shards-000001.wal"), 0)
        let log2 = ShardLog(outDir: run)
        try log2.append([new, other])
        XCTAssertEqual(ShardLog.segments(outDir: run).count, 2)
        try journal(run, [new, other])
        XCTAssertEqual(try ShardLog.recover(outDir: run), [1, 2])
        XCTAssertEqual(files(run, 1), [new.latents, new.labels, new.json], "the newer segment's record wins")
        XCTAssertEqual(files(run, 2), [other.latents, other.labels, other.json])
        XCTAssertEqual(ShardLog.segments(outDir: run), [])
    }

    func testAnIdleSegmentIsSealedOnceOldAndItsFilesAppear() throws {
        let run = try tempRun()
        let log = ShardLog(outDir: run)
        let e = entry(5, rows: 2)
        try log.append([e])
        XCTAssertFalse(try log.sealIfOld(maxAge: 60), "young: stays open")
        XCTAssertEqual(ShardLog.segments(outDir: run), [ShardLog.path(outDir: run)])
        usleep(20_000)
        XCTAssertTrue(try log.sealIfOld(maxAge: 0.01))
        XCTAssertFalse(try log.sealIfOld(maxAge: 0), "nothing open")
        try log.materializer.drain()
        XCTAssertEqual(files(run, 5), [e.latents, e.labels, e.json])
        XCTAssertEqual(ShardLog.segments(outDir: run), [])
    }

    func testSealedSegmentsContinueTheNumbering() throws {
        let run = try tempRun()
        try FileIO.writeAtomically(run + "/latents/shards-000007.wal", [UInt8]())
        let log = ShardLog(outDir: run)
        try log.append([entry(0, rows: 1)])
        try log.seal()
        XCTAssertEqual(
            ShardLog.segments(outDir: run).map { ($0 as NSString).lastPathComponent },
            ["shards-000007.wal", "shards-000008.wal"])
        try log.checkpoint()
        XCTAssertEqual(
            ShardLog.segments(outDir: run).map { ($0 as NSString).lastPathComponent }, ["shards-000007.wal"],
            "an older segment (left for recover) is never overwritten")
    }

    func testAFileThatCannotBeWrittenKeepsTheSegmentAndStopsFurtherAppends() throws {
        let run = try tempRun()
        // A directory where shard 3's labels file goes: open(O_WRONLY) fails even for root.
        try FileIO.makeDirectories(run + "/latents/shard-000003.labels.npy")
        let log = ShardLog(outDir: run)
        let e = entry(3, rows: 4)
        try log.append([e])
        XCTAssertThrowsError(try log.checkpoint()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("cannot write shard files"), text)
            XCTAssertTrue(text.contains("resume"), text)
        }
        XCTAssertEqual(ShardLog.segments(outDir: run).count, 1, "the segment still holds the shard")
        XCTAssertEqual(ShardLog.decode(try FileIO.read(ShardLog.segments(outDir: run)[0])), [e])
        XCTAssertThrowsError(try log.append([entry(4, rows: 4)]), "the run stops instead of piling up")
        // Once fixed, recovery restores the journaled shard from the kept segment.
        try FileManager.default.removeItem(atPath: run + "/latents/shard-000003.labels.npy")
        try journal(run, [e])
        XCTAssertEqual(try ShardLog.recover(outDir: run), [3])
        XCTAssertEqual(files(run, 3), [e.latents, e.labels, e.json])
    }

    func testRepairBeforeResumeRestoresFromTheLogInsteadOfRecomputing() throws {
        let run = try tempRun()
        let es = (0..<2).map { entry($0, rows: 4) }
        let log = ShardLog(outDir: run)
        try log.append(es)  // journaled, files never written (SIGKILL before the materializer ran)
        try journal(run, es)
        let (header, _, _, _) = try Journal.read(run + "/journal.log")
        let before = RunIntegrity.check(outDir: run, header: header, commits: try Journal.read(run + "/journal.log").1)
        XCTAssertEqual(before.damaged, [], "journaled shards in the log are not damaged")
        XCTAssertEqual(before.pendingInLog, [0, 1])
        XCTAssertFalse(before.complete)
        // A log record that does not match the journal does not count: that shard is damaged.
        var wrong = es[1]
        wrong.latents[wrong.latents.count - 1] ^= 1
        XCTAssertEqual(rename(ShardLog.path(outDir: run), run + "/latents/shards-000001.wal"), 0)
        try ShardLog(outDir: run).append([wrong])
        let mixed = RunIntegrity.check(outDir: run, header: header, commits: try Journal.read(run + "/journal.log").1)
        XCTAssertEqual(mixed.pendingInLog, [0])
        XCTAssertEqual(mixed.damaged.map(\.shard), [1])
        XCTAssertEqual(try RunIntegrity.repair(outDir: run, expected: header), [])
        XCTAssertEqual(try Journal.read(run + "/journal.log").1.map(\.shard), [0, 1], "nothing dropped")
        for e in es { XCTAssertEqual(files(run, e.shard), [e.latents, e.labels, e.json]) }
    }
}
