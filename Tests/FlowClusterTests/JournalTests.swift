import FlowTensor
import Foundation
import XCTest

@testable import FlowCluster

/// Journal: CRC-checked append-only records, torn-tail truncation, configuration checks.
final class JournalTests: XCTestCase {
    func header(seed: UInt64 = 1) -> RunHeader {
        RunHeader(
            evalSetId: "e", samples: 64, classes: 10, labelMode: "balanced", seed: seed, plan: "H8", guidanceScale: 1,
            guidanceChannels: 0, batch: 8, shardSize: 16, models: ["predictor=gmm:synthetic@x"])
    }

    func tempPath() -> String {
        let d = NSTemporaryDirectory() + "journal-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d + "/journal.log"
    }

    func commit(_ s: Int) -> ShardCommit {
        ShardCommit(
            shard: s, first: 16 * s, count: 16, file: "latents/shard-\(s).npy", checksum: "0000000\(s)", worker: "w")
    }

    func testCRC32MatchesTheStandardCheckValue() {
        // The CRC-32/ISO-HDLC check value of "123456789" is 0xCBF43926 (published catalogue value).
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.hex([]), "00000000")
    }

    func testAppendReadAndTornTailIsTruncatedOnResume() throws {
        let path = tempPath()
        let j = try Journal.create(path, header: header())
        for s in 0..<3 { try j.append(commit(s)) }
        j.close()
        let good = try FileIO.read(path)
        // Simulate a crash mid-append: half a record at the end.
        let torn = Array("{\"checksum\":\"00000003\",\"count\":16,\"fi".utf8)
        try FileIO.writeAtomically(path, good + torn)
        let r = try Journal.read(path)
        XCTAssertEqual(r.commits, (0..<3).map(commit))
        XCTAssertEqual(r.validLength, good.count)
        XCTAssertEqual(r.fileLength, good.count + torn.count)
        let (j2, commits) = try Journal.resume(path, expected: header())
        XCTAssertEqual(commits.count, 3)
        try j2.append(commit(3))
        j2.close()
        let after = try Journal.read(path)
        XCTAssertEqual(after.commits, (0..<4).map(commit))
        XCTAssertEqual(after.validLength, after.fileLength)
    }

    func testCorruptionBeforeTheLastRecordIsRefused() throws {
        let path = tempPath()
        let j = try Journal.create(path, header: header())
        for s in 0..<3 { try j.append(commit(s)) }
        j.close()
        var bytes = try FileIO.read(path)
        let secondLine = bytes.firstIndex(of: 0x0A)! + 5
        bytes[secondLine] ^= 0x01
        try FileIO.writeAtomically(path, bytes)
        XCTAssertThrowsError(try Journal.read(path)) { XCTAssertTrue("\($0)".contains("corrupt"), "\($0)") }
    }

    func testResumeRefusesAnotherConfigurationAndCreateRefusesAnExistingRun() throws {
        let path = tempPath()
        _ = try Journal.create(path, header: header(seed: 1))
        XCTAssertThrowsError(try Journal.resume(path, expected: header(seed: 2))) { e in
            XCTAssertTrue("\(e)".contains("seed: journal has 1, this run has 2"), "\(e)")
        }
        XCTAssertThrowsError(try Journal.create(path, header: header())) {
            XCTAssertEqual(($0 as? FlowError)?.settings, [.resume, .overwrite, .out], "\($0)")
        }
        XCTAssertThrowsError(try Journal.resume(path + ".missing", expected: header()))
    }
}
