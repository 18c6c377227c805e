import FlowCluster
import FlowProto
import Foundation
import XCTest

/// Limits and faults with the real binary: NaN/Inf results re-run elsewhere, a full disk (small
/// tmpfs) stops with a clear error and `--resume` completes bit-identically, oversized shards are
/// refused up front; in process: the per-worker in-flight limit.
final class LimitsTests: XCTestCase {
    static let common = ["--model", "gmm:synthetic", "--samples", "160", "--batch", "8", "--shard-size", "16", "--seed", "3",
                         "--plan", "H8", "--quiet"]

    func tempDir(_ tag: String) -> String {
        let d = NSTemporaryDirectory() + "limits-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    func binary() throws -> String {
        guard let b = LauncherTests.binary else { throw XCTSkip("flowturbo binary not built next to the tests; run `swift build` first") }
        return b
    }

    /// Latents files of a finished run, by name.
    func latents(_ run: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: run + "/latents") where f.hasSuffix(".npy") {
            out[f] = try Data(contentsOf: URL(fileURLWithPath: run + "/latents/" + f))
        }
        return out
    }

    func testNonFiniteResultsAreRerunElsewhereAndTheWorkerIsShutDown() throws {
        let bin = try binary()
        let d = tempDir("nan")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let port = LauncherTests.freePortPair()
        let coord = Process()
        coord.executableURL = URL(fileURLWithPath: bin)
        coord.arguments = ["coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--out", d + "/run"] + Self.common
        coord.standardError = FileHandle(forWritingAtPath: "/dev/null")
        coord.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try coord.run()
        let connect = ["--connect", "tcp://127.0.0.1:\(port)", "--model", "gmm:synthetic", "--give-up-seconds", "20"]
        let bad = Process()
        bad.executableURL = URL(fileURLWithPath: bin)
        bad.arguments = ["worker", "--id", "nan", "--inject-nan"] + connect
        bad.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try bad.run()
        usleep(800_000)   // the NaN worker gets the first shards
        let (status, out) = try LauncherTests.run(bin, ["worker", "--id", "good", "--batch-delay-ms", "10"] + connect)
        XCTAssertEqual(status, 0, out)
        coord.waitUntilExit()
        bad.waitUntilExit()
        XCTAssertEqual(coord.terminationStatus, 0)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: d + "/run/report.json"))) as? [String: Any]
        let cluster = report?["cluster"] as? [String: Any] ?? [:]
        let marked = cluster["nonfinite_shards"] as? Int ?? 0
        print("LimitsTests: \(marked) shard(s) with NaN/Inf re-run elsewhere, banned workers \(cluster["banned_workers"] ?? "?")")
        XCTAssertGreaterThanOrEqual(marked, 1, "\(cluster)")
        XCTAssertEqual(cluster["banned_workers"] as? Int, 1, "3 NaN results shut the worker down: \(cluster)")
        // Every committed latent is finite and equals a plain run's.
        XCTAssertEqual(try LauncherTests.run(bin, ["run", "--workers", "1", "--out", d + "/ref"] + Self.common).0, 0)
        let got = try latents(d + "/run"), ref = try latents(d + "/ref")
        XCTAssertEqual(got.count, 20)
        XCTAssertEqual(got, ref)
        for (_, data) in got {
            let floats = data.dropFirst(128).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            XCTAssertTrue(floats.allSatisfy { $0.isFinite })
        }
    }

    func testDiskFullStopsWithClearErrorAndResumeCompletes() throws {
        let bin = try binary()
        guard getuid() == 0 else { print("LimitsTests: disk-full test skipped: needs root to mount a tmpfs"); throw XCTSkip("needs root to mount a tmpfs") }
        let d = tempDir("full")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let fs = d + "/fs"
        try FileManager.default.createDirectory(atPath: fs, withIntermediateDirectories: true)
        let (mounted, why) = try LauncherTests.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", fs])
        guard mounted == 0 else { print("LimitsTests: disk-full test skipped: \(why)"); throw XCTSkip("cannot mount tmpfs: \(why)") }
        defer { _ = try? LauncherTests.run("/bin/umount", [fs]) }
        let (status, out) = try LauncherTests.run(bin, ["run", "--workers", "1", "--out", fs + "/run"] + Self.common)
        XCTAssertNotEqual(status, 0, "a full disk must fail the run")
        XCTAssertTrue(out.contains("No space left on device") && out.contains("--resume"), out)
        // Journal intact: every line has a valid CRC (checked by Journal.read) and names written shards.
        let journal = try Journal.read(fs + "/run/journal.log")
        XCTAssertEqual(journal.validLength, journal.fileLength, "no torn record")
        XCTAssertLessThan(journal.commits.count, 10)
        for c in journal.commits { XCTAssertTrue(FileManager.default.fileExists(atPath: fs + "/run/" + c.file)) }
        // Space is back: --resume completes with the bytes of an uninterrupted run.
        XCTAssertEqual(try LauncherTests.run("/bin/mount", ["-o", "remount,size=4m", fs]).0, 0)
        let (resumed, rout) = try LauncherTests.run(bin, ["run", "--workers", "1", "--out", fs + "/run", "--resume"] + Self.common)
        XCTAssertEqual(resumed, 0, rout)
        XCTAssertEqual(try LauncherTests.run(bin, ["run", "--workers", "1", "--out", d + "/ref"] + Self.common).0, 0)
        let got = try latents(fs + "/run"), ref = try latents(d + "/ref")
        XCTAssertEqual(got.count, 20)
        XCTAssertEqual(got, ref)
    }

    func testOversizedShardsAreRefusedUpFront() throws {
        let bin = try binary()
        let d = tempDir("shard")
        defer { try? FileManager.default.removeItem(atPath: d) }
        // 32768 samples × 16 floats × 4 bytes = 2 MiB per shard > 1 MiB.
        let (status, out) = try LauncherTests.run(bin, ["run", "--workers", "1", "--out", d + "/run", "--model", "gmm:synthetic",
                                                        "--samples", "40000", "--shard-size", "32768", "--max-shard-mb", "1", "--quiet"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(out.contains("--shard-size") && out.contains("MiB"), out)
    }

    /// A registered worker that asks for work 6 times gets at most `maxInFlightPerWorker` leases.
    func testPerWorkerInFlightLimit() throws {
        let d = tempDir("inflight")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let context = try ZMQContext()
        var config = FuzzCorpus.coordinatorConfig(outDir: d, samples: 128, controlBind: "tcp://127.0.0.1:0", dataBind: "tcp://127.0.0.1:0")
        config.maxInFlightPerWorker = 2
        let coordinator = try Coordinator(config: config, context: context)
        let stop = NSLock()
        var stopping = false
        coordinator.onTick = { stop.lock(); if stopping { coordinator.abort("test done") }; stop.unlock() }
        let done = DispatchSemaphore(value: 0)
        Thread { _ = try? coordinator.run(); done.signal() }.start()
        let dealer = try context.socket(.dealer)
        try dealer.setLinger(0)
        try dealer.connect("tcp://127.0.0.1:\(coordinator.controlPort)")
        let corpus = FuzzCorpus.envelopes(evalSet: config.evalSet)
        try dealer.send(corpus[0])   // hello
        var assignments = Set<UInt64>()
        var welcomed = false
        let deadline = Date().addingTimeInterval(3)
        var asked = 0
        while Date() < deadline {
            if welcomed && asked < 6 { try dealer.send(corpus[1]); asked += 1 }   // work request
            if try ZMQPoll.readable([dealer], timeoutMs: 50)[0] {
                while let f = try dealer.receive(dontWait: true) {
                    guard let e = try? Flowturbo_V1_Envelope(serializedBytes: f.last!) else { continue }
                    if case .welcome? = e.body { welcomed = true }
                    if case .assignment(let a)? = e.body { assignments.insert(a.shardID) }
                }
            }
        }
        stop.lock(); stopping = true; stop.unlock()
        done.wait()
        XCTAssertEqual(asked, 6)
        XCTAssertEqual(assignments.count, 2, "in-flight limit 2")
    }
}
