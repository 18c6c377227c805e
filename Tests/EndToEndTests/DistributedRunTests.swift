import FlowCluster
import FlowTensor
import Foundation
import XCTest

/// End-to-end runs of the real binary on loopback: determinism across worker counts, worker and
/// coordinator SIGKILL (+ --resume), garbage frames. Model: the analytic gmm:synthetic field.
final class DistributedRunTests: XCTestCase {
    static let common = Harness.smallRun

    override class func tearDown() {
        Harness.removeTempDirs()
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
    }

    /// A clean one-worker run, computed once and shared.
    func reference() throws -> String { try Harness.referenceRun(Self.common) }

    func testOneVsThreeWorkersBitwiseIdenticalAndLabelsBalanced() throws {
        let ref = try Harness.samples(try reference())
        let d = Harness.tempDir("three")
        let (status, err) = try Harness.run(
            ["run", "--workers", "3", "--out", d + "/run", "--export-npz"] + Self.common, logDir: d, tag: "three")
        XCTAssertEqual(status, 0, err)
        let three = try Harness.samples(d + "/run")
        XCTAssertEqual(ref.count, 160)
        XCTAssertEqual(three.count, 160)
        XCTAssertEqual(ref.bytes.count, 160 * 16 * 4)
        XCTAssertTrue(ref.bytes == three.bytes, "latents differ between 1 and 3 workers")
        // Labels: i mod K with K from the run header (gmm:synthetic has 4 classes), computed independently.
        let header = try Harness.json(d + "/run/manifest.json")["run"] as! [String: Any]
        let k = header["classes"] as! Int
        XCTAssertEqual(three.labels, (0..<160).map { Int64($0 % k) })
        // Latents are not trivially equal (e.g. all zeros): distinct samples differ.
        XCTAssertNotEqual(Array(ref.bytes[0..<64]), Array(ref.bytes[64..<128]))
        // The exported npz holds the same samples.
        let npz = try NPZ.read(d + "/run/samples.npz")
        XCTAssertEqual(npz["arr_0"]?.shape, [160, 16])
        XCTAssertTrue(npz["arr_0"]?.bytes == ref.bytes)
        XCTAssertEqual(try npz["labels"]?.int64s(), three.labels)
        // Every shard exactly once in the journal.
        XCTAssertEqual(Harness.committedShards(d + "/run").sorted(), Array(0..<10))
    }

    func testWorkerSIGKILLMidRunCompletesIdentical() throws {
        let ref = try Harness.samples(try reference())
        let d = Harness.tempDir("wkill")
        let p = try Harness.start(
            ["run", "--workers", "2", "--out", d + "/run", "--worker-batch-delay-ms", "60"] + Self.common,
            logDir: d, tag: "wkill")
        XCTAssertTrue(
            Harness.wait(timeout: 30) { Harness.committedShards(d + "/run").count >= 1 }, "no shard committed")
        let kids = Harness.children(of: p.processIdentifier)
        XCTAssertEqual(kids.count, 2, "expected two worker processes")
        if let victim = kids.first { kill(victim, SIGKILL) }
        XCTAssertTrue(Harness.wait(timeout: 60) { !p.isRunning }, "run did not finish after a worker was killed")
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, (try? String(contentsOfFile: d + "/wkill.err", encoding: .utf8)) ?? "")
        let got = try Harness.samples(d + "/run")
        XCTAssertEqual(got.count, 160)
        XCTAssertTrue(got.bytes == ref.bytes, "latents differ after a worker kill")
        let shards = Harness.committedShards(d + "/run")
        XCTAssertEqual(shards.sorted(), Array(0..<10), "every shard committed exactly once")
        let cluster = try Harness.json(d + "/run/report.json")["cluster"] as! [String: Any]
        XCTAssertGreaterThanOrEqual(
            cluster["requeues"] as? Int ?? 0, 1, "the killed worker's shard must be re-queued: \(cluster)")
        XCTAssertEqual(cluster["rejected_connections"] as? Int, 0, "\(cluster)")
    }

    func testCoordinatorSIGKILLThenResumeCompletesIdenticalWithoutRecompute() throws {
        let ref = try Harness.samples(try reference())
        let d = Harness.tempDir("ckill")
        let out = d + "/run"
        let p = try Harness.start(
            ["run", "--workers", "2", "--out", out, "--worker-batch-delay-ms", "60"] + Self.common,
            logDir: d, tag: "first")
        XCTAssertTrue(
            Harness.wait(timeout: 30) { Harness.committedShards(out).count >= 3 }, "too few commits before the kill")
        let workers = Harness.children(of: p.processIdentifier)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let before = Harness.committedShards(out)
        XCTAssertLessThan(before.count, 10, "run finished before the kill; the test proves nothing")
        // Orphaned workers notice their parent died and exit.
        XCTAssertTrue(
            Harness.wait(timeout: 10) { workers.allSatisfy { kill($0, 0) != 0 } }, "workers outlived the coordinator")
        // Inodes of committed files already written: a recomputed shard would be renamed over (new inode). Shards
        // committed but still in the shard log at the kill have no file yet; the resume restores them from the log.
        var inodes: [String: UInt64] = [:]
        for s in before {
            let f = out + "/latents/shard-" + String(format: "%06d", s) + ".npy"
            guard FileIO.exists(f) else { continue }
            inodes[f] =
                (try FileManager.default.attributesOfItem(atPath: f)[.systemFileNumber] as? NSNumber)?.uint64Value
        }
        let (status, err) = try Harness.run(
            ["run", "--workers", "2", "--out", out, "--resume"] + Self.common, logDir: d, tag: "resume")
        XCTAssertEqual(status, 0, err)
        let after = Harness.committedShards(out)
        XCTAssertEqual(Array(after.prefix(before.count)), before, "journal prefix changed")
        XCTAssertEqual(after.sorted(), Array(0..<10), "every shard committed exactly once across both sessions")
        for (f, ino) in inodes {
            let now = (try FileManager.default.attributesOfItem(atPath: f)[.systemFileNumber] as? NSNumber)?.uint64Value
            XCTAssertEqual(now, ino, "\(f) was rewritten on resume")
        }
        let report = try Harness.json(out + "/report.json")["cluster"] as! [String: Any]
        XCTAssertEqual(report["resumed_shards"] as? Int, before.count)
        XCTAssertEqual(report["committed_this_session"] as? Int, 10 - before.count)
        let got = try Harness.samples(out)
        XCTAssertTrue(got.bytes == ref.bytes, "latents differ after coordinator kill + resume")
    }

    func testResumeRefusesDifferentConfiguration() throws {
        _ = try reference()
        let d = Harness.tempDir("mismatch")
        let out = d + "/run"
        XCTAssertEqual(
            try Harness.run(["run", "--workers", "1", "--out", out] + Self.common, logDir: d, tag: "a").0, 0)
        let (status, err) = try Harness.run(
            ["run", "--workers", "1", "--out", out, "--resume"] + Self.common + ["--seed", "4"],
            logDir: d, tag: "b")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("seed"), "error should name the differing parameter: \(err)")
        let (status2, err2) = try Harness.run(
            ["run", "--workers", "1", "--out", out] + Self.common, logDir: d, tag: "c")
        XCTAssertNotEqual(status2, 0)
        XCTAssertTrue(err2.contains("--resume"), err2)
    }

    func testPromptFileOnClassModelFailsClearly() throws {
        let d = Harness.tempDir("prompts")
        try "a cat\n{\"id\": 2, \"prompt\": \"a dog\"}\n".write(toFile: d + "/p.txt", atomically: true, encoding: .utf8)
        let (status, err) = try Harness.run(
            ["run", "--workers", "1", "--out", d + "/run", "--prompts", d + "/p.txt", "--model", "gmm:synthetic"],
            logDir: d, tag: "p")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("no text conditioning"), err)
    }

    func testGarbageAndOversizedFramesAreDroppedAndCounted() throws {
        let ref = try Harness.samples(try reference())
        let d = Harness.tempDir("garbage")
        let out = d + "/run"
        let coord = try Harness.start(
            ["coordinator", "--bind", "tcp://127.0.0.1:0", "--out", out] + Self.common, logDir: d, tag: "coord")
        defer { if coord.isRunning { kill(coord.processIdentifier, SIGKILL) } }
        XCTAssertTrue(Harness.wait(timeout: 20) { FileManager.default.fileExists(atPath: out + "/endpoints.json") })
        let port = try Harness.json(out + "/endpoints.json")["control_port"] as! Int
        // 1. Raw TCP: random bytes that are not a ZMTP greeting.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        XCTAssertEqual(rc, 0)
        var junk = (0..<4096).map { _ in UInt8.random(in: 0...255) }
        junk[0] = 0x00  // not 0xFF: an invalid ZMTP signature
        _ = junk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        usleep(100_000)
        close(fd)
        // 2. A real ZeroMQ peer sending undecodable frames, then an oversized frame (> ZMQ_MAXMSGSIZE).
        let ctx = try ZMQContext()
        let dealer = try ctx.socket(.dealer)
        try dealer.setLinger(500)
        try dealer.connect("tcp://127.0.0.1:\(port)")
        for _ in 0..<5 { try dealer.send((0..<200).map { _ in UInt8.random(in: 0...255) }) }
        try dealer.send([[1, 2, 3], [4, 5, 6]])  // wrong frame count
        try dealer.send([UInt8](repeating: 0xAB, count: 4 << 20))  // over the 1 MiB application bound
        usleep(300_000)
        dealer.close()
        let big = try ctx.socket(.dealer)  // over the 16 MiB ZMQ_MAXMSGSIZE: libzmq drops the peer
        try big.setLinger(500)
        try big.connect("tcp://127.0.0.1:\(port)")
        try big.send([UInt8](repeating: 0xCD, count: 20 << 20))
        usleep(300_000)
        big.close()
        // 3. A real worker completes the run.
        let (wstatus, werr) = try Harness.run(
            ["worker", "--connect", "tcp://127.0.0.1:\(port)", "--model", "gmm:synthetic"],
            logDir: d, tag: "worker", timeout: 60)
        XCTAssertEqual(wstatus, 0, werr)
        XCTAssertTrue(Harness.wait(timeout: 30) { !coord.isRunning })
        coord.waitUntilExit()
        XCTAssertEqual(
            coord.terminationStatus, 0, (try? String(contentsOfFile: d + "/coord.err", encoding: .utf8)) ?? "")
        let cluster = try Harness.json(out + "/report.json")["cluster"] as! [String: Any]
        XCTAssertEqual(cluster["dropped_frames"] as? Int, 6, "undecodable frames must be counted: \(cluster)")
        XCTAssertEqual(cluster["oversized_frames"] as? Int, 1, "the 4 MiB frame must be counted: \(cluster)")
        XCTAssertGreaterThanOrEqual(
            cluster["disconnects"] as? Int ?? 0, 3, "raw TCP, dealer, oversized peer: \(cluster)")
        XCTAssertEqual(
            cluster["rejected_connections"] as? Int, 1, "the raw-TCP garbage connection must be counted: \(cluster)")
        XCTAssertTrue(try Harness.samples(out).bytes == ref.bytes)
    }

    func testSIGINTStopsCleanlyAndResumeCompletes() throws {
        let ref = try Harness.samples(try reference())
        let d = Harness.tempDir("sigint")
        let out = d + "/run"
        let p = try Harness.start(
            ["run", "--workers", "2", "--out", out, "--worker-batch-delay-ms", "60"] + Self.common,
            logDir: d, tag: "first")
        XCTAssertTrue(Harness.wait(timeout: 30) { Harness.committedShards(out).count >= 2 })
        let workers = Harness.children(of: p.processIdentifier)
        kill(p.processIdentifier, SIGINT)
        XCTAssertTrue(Harness.wait(timeout: 20) { !p.isRunning }, "SIGINT did not stop the run")
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 130)
        XCTAssertTrue(Harness.wait(timeout: 10) { workers.allSatisfy { kill($0, 0) != 0 } }, "workers not shut down")
        let err = (try? String(contentsOfFile: d + "/first.err", encoding: .utf8)) ?? ""
        XCTAssertTrue(err.contains("--resume"), err)
        // Journal consistent: every line a whole, CRC-valid record.
        let j = try Journal.read(out + "/journal.log")
        XCTAssertEqual(j.validLength, j.fileLength)
        XCTAssertLessThan(j.commits.count, 10, "run finished before SIGINT; the test proves nothing")
        let (status, err2) = try Harness.run(
            ["run", "--workers", "2", "--out", out, "--resume"] + Self.common, logDir: d, tag: "resume")
        XCTAssertEqual(status, 0, err2)
        XCTAssertEqual(Harness.committedShards(out).sorted(), Array(0..<10))
        XCTAssertTrue(try Harness.samples(out).bytes == ref.bytes)
    }

    func testUnknownPlanFailsClearly() throws {
        let d = Harness.tempDir("plan")
        let (status, err) = try Harness.run(
            ["run", "--workers", "1", "--out", d + "/run", "--model", "gmm:synthetic", "--plan", "Q7"],
            logDir: d, tag: "p")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("Q7"), err)
    }
}
