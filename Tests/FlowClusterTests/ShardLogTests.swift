import FlowTensor
import Foundation
import XCTest

@testable import FlowCluster

/// The shard write-ahead log behind group commit: records round-trip, a torn or corrupt tail is ignored, and
/// recovery restores exactly the journaled shards whose files were lost (a power loss after the log fsync), with
/// the bytes the log holds, and nothing that was never journaled.
final class ShardLogTests: XCTestCase {
    func tempRun() throws -> String {
        let d = NSTemporaryDirectory() + "shardlog-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try PrivateFiles.makeDirectory(d)
        try PrivateFiles.makeSubdirectory(d + "/latents")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func entry(_ shard: Int, rows: Int) -> ShardLog.Entry {
        let floats = (0..<rows).map { Float(shard * 100 + $0) }
        let latents = floats.withUnsafeBytes { NPY.encode(dtype: .float32, shape: [rows, 1], body: $0) }
        let labels = [Int32](repeating: Int32(shard), count: rows)
        let labelBytes = labels.withUnsafeBytes { NPY.encode(dtype: .int32, shape: [rows], body: $0) }
        return ShardLog.Entry(shard: shard, latents: latents, labels: labelBytes, json: Array("{\"s\":\(shard)}".utf8))
    }

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
