import FlowCluster
import FlowProto
import FlowTestSupport
import Foundation
import XCTest

@testable import FlowFuzz

/// The fuzz harness: the mutator reaches deep fields, and bounded `flowturbo fuzz` runs (in a child
/// process, so a trap is reported with its reproducer instead of killing the test runner) end with
/// zero crashes and zero hangs.
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

    /// Runs `flowturbo fuzz` and returns its output; fails on a crash, hang or non-zero exit.
    func fuzz(_ target: String, seconds: Double) throws -> String {
        guard let bin = TestEnvironment.binary else {
            throw XCTSkip("flowturbo binary not built next to the tests; run `swift build` first")
        }
        let dir = NSTemporaryDirectory() + "fuzz-crash-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, out) = try TestEnvironment.run(
            bin,
            [
                "fuzz", "--target", target, "--seconds", String(seconds), "--seed", "7",
                "--crash-dir", dir,
            ])
        let crashes = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let repro = crashes.first.flatMap { try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0)) }
        XCTAssertEqual(
            status, 0,
            "fuzz \(target) failed: \(out)\nreproducer: \(repro.map { String(decoding: $0, as: UTF8.self) } ?? "none")")
        let line = out.split(separator: "\n").first { $0.hasPrefix("fuzz \(target):") }.map(String.init) ?? ""
        XCTAssertTrue(line.contains("0 hangs, 0 crashes"), out)
        let words = line.split(separator: " ")
        let executions = words.count > 2 ? Int(words[2]) ?? 0 : 0  // no summary line after a crash: fail, not trap
        XCTAssertGreaterThan(executions, 100, out)
        print(line)
        return out
    }

    func testBoundedFuzzProtoDecoders() throws { _ = try fuzz("proto", seconds: 3) }

    func testBoundedFuzzLiveCoordinatorCompletesRun() throws { _ = try fuzz("frames", seconds: 6) }

    func testBoundedFuzzJournalResume() throws { _ = try fuzz("journal", seconds: 3) }

    func testBoundedFuzzWorkerSide() throws { _ = try fuzz("worker", seconds: 3) }

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
