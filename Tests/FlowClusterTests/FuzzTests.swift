import FlowCluster
import FlowProto
import FlowTestSupport
import Foundation
import XCTest

@testable import FlowFuzz

/// The fuzz harness in process: the mutator reaches deep fields; the bounded `flowturbo fuzz` runs are in
/// EndToEndTests/FuzzCommandTests.
final class FuzzTests: XCTestCase {
    func testMutatorIsDeterministicAndReachesNestedVarints() throws {
        let evalSet = FuzzCorpus.evalSet(samples: 64)
        var e = Flowturbo_V1_Envelope()
        e.result = FuzzCorpus.result(shard: 1, evalSet: evalSet)
        let seed: [UInt8] = try e.serializedBytes()
        var a = FuzzMutator(seed: 42)
        var b = FuzzMutator(seed: 42)
        var extreme = 0
        var decodable = 0
        for _ in 0..<2000 {
            let x = a.mutate(seed, corpus: [seed])
            XCTAssertEqual(x, b.mutate(seed, corpus: [seed]), "same seed must give the same inputs")
            if let d = try? Flowturbo_V1_Envelope(serializedBytes: x), case .result(let r)? = d.body {
                decodable += 1
                // Values a decoder must survive: ≥ 2^63 does not fit in Int.
                if r.shardID >= 1 << 63 || r.firstIndex >= 1 << 63 || r.count >= 1 << 63 { extreme += 1 }
            }
        }
        XCTAssertGreaterThan(decodable, 200, "structure-aware mutations must mostly stay decodable")
        XCTAssertGreaterThan(extreme, 5, "nested uint64 fields must reach values ≥ 2^63")
    }

    func testZMTPSeedIsAValidStream() throws {
        // The seed stream for raw-TCP fuzzing is accepted by libzmq: a ROUTER receives its message.
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.setLinger(0)
        try router.bind("tcp://127.0.0.1:0")
        let port = Int(try router.lastEndpoint().split(separator: ":").last!)!
        let payload: [UInt8] = Array("hello over raw tcp".utf8)
        let answer = FuzzFrames.rawTCP(port: port, bytes: FuzzFrames.zmtpStream(frames: [payload]), waitMs: 500)
        XCTAssertEqual(answer.first, 0xFF, "the server answers with a ZMTP signature")
        var got: [[UInt8]]?
        let deadline = Date().addingTimeInterval(5)
        while got == nil && Date() < deadline {
            if try ZMQPoll.readable([router], timeoutMs: 100)[0] { got = try router.receive(dontWait: true) }
        }
        XCTAssertEqual(got?.last, payload)
    }

    /// Regression (found by the journal target): a CRC-valid commit record naming a shard outside the
    /// layout (here Int.min) used to trap in `Coordinator.init`; now --resume refuses it clearly.
    func testResumeRefusesCommitOutsideShardLayout() throws {
        let dir = NSTemporaryDirectory() + "fuzz-regress-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = FuzzCorpus.coordinatorConfig(
            outDir: dir, samples: 64, controlBind: "inproc://regress-c", dataBind: "inproc://regress-d")
        let j = try Journal.create(dir + "/journal.log", header: config.header)
        try j.append(
            ShardCommit(
                shard: 0, first: 0, count: 8, file: "latents/shard-000000.npy", checksum: "0badf00d", worker: "w"))
        try j.append(
            ShardCommit(
                shard: Int.min, first: 16, count: 8, file: "latents/shard-000002.npy", checksum: "0badf00d", worker: "w"
            ))
        j.close()
        config.resume = true
        let context = try ZMQContext()
        XCTAssertThrowsError(try Coordinator(config: config, context: context)) { e in
            XCTAssertTrue("\(e)".contains("does not match this run's shard layout"), "\(e)")
        }
        // A commit whose index range disagrees with its shard id is refused too.
        try? FileManager.default.removeItem(atPath: dir + "/journal.log")
        let k = try Journal.create(dir + "/journal.log", header: config.header)
        try k.append(
            ShardCommit(
                shard: 1, first: 0, count: 8, file: "latents/shard-000001.npy", checksum: "0badf00d", worker: "w"))
        k.close()
        XCTAssertThrowsError(try Coordinator(config: config, context: context))
    }
}
