import FlowCluster
import FlowProto
import FlowSampler
import FlowTestSupport
import Foundation
import XCTest

@testable import FlowFuzz

/// Limits and faults with the real binary: NaN/Inf results re-run elsewhere, a full disk (small
/// tmpfs) stops with a clear error and `--resume` completes bit-identically, oversized shards are
/// refused up front; in process: the per-worker in-flight limit.
final class LimitsTests: XCTestCase {
    static let common = [
        "--model", "gmm:synthetic", "--samples", "160", "--batch", "8", "--shard-size", "16", "--seed", "3",
        "--plan", "H8", "--quiet",
    ]

    func tempDir(_ tag: String) -> String { TestEnvironment.tempDirectory("limits-\(tag)") }

    func binary() throws -> String {
        guard let b = TestEnvironment.binary else {
            throw XCTSkip("flowturbo binary not built next to the tests; run `swift build` first")
        }
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
        let port = TestEnvironment.freePortPair()
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
        // The NaN worker is alone, so it gets the first shards; its third NaN result bans it and it exits on the
        // Shutdown. Only that exit (an event, not a head start: under load a fixed 800 ms sleep let the good worker
        // connect first and take every shard) starts the good worker, which has the coordinator's no-progress
        // window (15 s after the last worker was banned) to join and re-run the marked shards.
        let deadline = Date().addingTimeInterval(120)
        while bad.isRunning && Date() < deadline { usleep(20_000) }
        if bad.isRunning {
            kill(bad.processIdentifier, SIGKILL)
            XCTFail("the NaN worker was not shut down (or did not exit) after its NaN results")
        }
        bad.waitUntilExit()
        let (status, out) = try TestEnvironment.run(
            bin, ["worker", "--id", "good", "--batch-delay-ms", "10"] + connect)
        XCTAssertEqual(status, 0, out)
        coord.waitUntilExit()
        XCTAssertEqual(coord.terminationStatus, 0)
        let report =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: d + "/run/report.json")))
            as? [String: Any]
        let cluster = report?["cluster"] as? [String: Any] ?? [:]
        let marked = cluster["nonfinite_shards"] as? Int ?? 0
        print(
            "LimitsTests: \(marked) shard(s) with NaN/Inf re-run elsewhere, banned workers \(cluster["banned_workers"] ?? "?")"
        )
        XCTAssertGreaterThanOrEqual(marked, 3, "3 NaN results before the ban, each shard re-run: \(cluster)")
        XCTAssertEqual(cluster["banned_workers"] as? Int, 1, "3 NaN results shut the worker down: \(cluster)")
        // Every committed latent is finite and equals a plain run's.
        XCTAssertEqual(try TestEnvironment.run(bin, ["run", "--workers", "1", "--out", d + "/ref"] + Self.common).0, 0)
        let got = try latents(d + "/run")
        let ref = try latents(d + "/ref")
        XCTAssertEqual(got.count, 20)
        XCTAssertEqual(got, ref)
        for (_, data) in got {
            let floats = data.dropFirst(128).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            XCTAssertTrue(floats.allSatisfy { $0.isFinite })
        }
    }

    func testDiskFullStopsWithClearErrorAndResumeCompletes() throws {
        let bin = try binary()
        guard getuid() == 0 else {
            print("LimitsTests: disk-full test skipped: needs root to mount a tmpfs")
            throw XCTSkip("needs root to mount a tmpfs")
        }
        let d = tempDir("full")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let fs = d + "/fs"
        try FileManager.default.createDirectory(atPath: fs, withIntermediateDirectories: true)
        let (mounted, why) = try TestEnvironment.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", fs])
        guard mounted == 0 else {
            print("LimitsTests: disk-full test skipped: \(why)")
            throw XCTSkip("cannot mount tmpfs: \(why)")
        }
        defer { _ = try? TestEnvironment.run("/bin/umount", [fs]) }
        let (status, out) = try TestEnvironment.run(bin, ["run", "--workers", "1", "--out", fs + "/run"] + Self.common)
        XCTAssertNotEqual(status, 0, "a full disk must fail the run")
        XCTAssertTrue(out.contains("No space left on device") && out.contains("--resume"), out)
        // Journal intact: every line has a valid CRC (checked by Journal.read) and names written shards.
        let journal = try Journal.read(fs + "/run/journal.log")
        XCTAssertEqual(journal.validLength, journal.fileLength, "no torn record")
        // Every journaled shard is in its files or in the kept shard log (files are written off the commit path).
        let logged = ShardLog.loggedChecksums(outDir: fs + "/run")
        XCTAssertFalse(FileManager.default.fileExists(atPath: fs + "/run/report.json"), "the run did not finish")
        for c in journal.commits {
            XCTAssertTrue(
                FileManager.default.fileExists(atPath: fs + "/run/" + c.file) || logged[c.shard] == c.checksum,
                "shard \(c.shard) is neither on disk nor in the shard log")
        }
        // Space is back: --resume completes with the bytes of an uninterrupted run.
        XCTAssertEqual(try TestEnvironment.run("/bin/mount", ["-o", "remount,size=4m", fs]).0, 0)
        let (resumed, rout) = try TestEnvironment.run(
            bin, ["run", "--workers", "1", "--out", fs + "/run", "--resume"] + Self.common)
        XCTAssertEqual(resumed, 0, rout)
        XCTAssertEqual(try TestEnvironment.run(bin, ["run", "--workers", "1", "--out", d + "/ref"] + Self.common).0, 0)
        let got = try latents(fs + "/run")
        let ref = try latents(d + "/ref")
        XCTAssertEqual(got.count, 20)
        XCTAssertEqual(got, ref)
    }

    func testOversizedShardsAreRefusedUpFront() throws {
        let bin = try binary()
        let d = tempDir("shard")
        defer { try? FileManager.default.removeItem(atPath: d) }
        // 32768 samples × 16 floats × 4 bytes = 2 MiB per shard > 1 MiB.
        let (status, out) = try TestEnvironment.run(
            bin,
            [
                "run", "--workers", "1", "--out", d + "/run", "--model", "gmm:synthetic",
                "--samples", "40000", "--shard-size", "32768", "--max-shard-mb", "1", "--quiet",
            ])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(out.contains("--shard-size") && out.contains("MiB"), out)
    }

    /// A registered worker that asks for work 6 times gets at most `maxInFlightPerWorker` leases.
    func testPerWorkerInFlightLimit() throws {
        let d = tempDir("inflight")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let context = try ZMQContext()
        var config = FuzzCorpus.coordinatorConfig(
            outDir: d, samples: 128, controlBind: "tcp://127.0.0.1:0", dataBind: "tcp://127.0.0.1:0")
        config.maxInFlightPerWorker = 2
        let coordinator = try Coordinator(config: config, context: context)
        let stop = NSLock()
        var stopping = false
        coordinator.onTick = {
            stop.lock()
            if stopping { coordinator.abort("test done") }
            stop.unlock()
        }
        let done = DispatchSemaphore(value: 0)
        Thread {
            _ = try? coordinator.run()
            done.signal()
        }.start()
        let dealer = try context.socket(.dealer)
        try dealer.setLinger(0)
        try dealer.connect("tcp://127.0.0.1:\(coordinator.controlPort)")
        let corpus = FuzzCorpus.envelopes(evalSet: config.evalSet)
        try dealer.send(corpus[0])  // hello
        // Events, not a fixed window from start-up (under load the Welcome could come after it): after the Welcome,
        // 6 work requests, then a second hello; its Welcome is answered after the 6 requests (one peer's control
        // messages are handled in order), and 500 ms more catch a lease handed out later on a tick.
        var assignments = Set<UInt64>()
        var welcomes = 0
        let deadline = Date().addingTimeInterval(60)
        var drainUntil: Date?
        var asked = 0
        while Date() < (drainUntil ?? deadline) {
            if welcomes == 1 && asked < 6 {
                try dealer.send(corpus[1])  // work request
                asked += 1
                if asked == 6 { try dealer.send(corpus[0]) }
            }
            if try ZMQPoll.readable([dealer], timeoutMs: 50)[0] {
                while let f = try dealer.receive(dontWait: true) {
                    guard let e = try? Flowturbo_V1_Envelope(serializedBytes: f.last!) else { continue }
                    if case .welcome? = e.body {
                        welcomes += 1
                        if welcomes == 2 { drainUntil = Date().addingTimeInterval(0.5) }
                    }
                    if case .assignment(let a)? = e.body { assignments.insert(a.shardID) }
                }
            }
        }
        stop.lock()
        stopping = true
        stop.unlock()
        done.wait()
        XCTAssertEqual(asked, 6)
        XCTAssertEqual(welcomes, 2, "no Welcome to the second hello within 60 s")
        XCTAssertEqual(assignments.count, 2, "in-flight limit 2")
    }

    /// A worker that keeps sending garbage is told to shut down and ignored; the run still completes
    /// (valid results for every shard arrive on the data port) and the drops are counted.
    func testGarbageSendingWorkerIsDisconnectedAndRunCompletes() throws {
        let d = tempDir("garbage")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let context = try ZMQContext()
        let config = FuzzCorpus.coordinatorConfig(
            outDir: d, samples: 64, controlBind: "tcp://127.0.0.1:0", dataBind: "tcp://127.0.0.1:0")
        let coordinator = try Coordinator(config: config, context: context)
        var summary: CoordinatorSummary?
        let done = DispatchSemaphore(value: 0)
        Thread {
            summary = try? coordinator.run()
            done.signal()
        }.start()
        let dealer = try context.socket(.dealer)
        try dealer.setLinger(0)
        try dealer.connect("tcp://127.0.0.1:\(coordinator.controlPort)")
        let corpus = FuzzCorpus.envelopes(evalSet: config.evalSet)
        try dealer.send(corpus[0])  // hello
        for i in 0..<config.maxMalformedPerPeer { try dealer.send([0xFF, 0x00, UInt8(i), 0x07]) }
        try dealer.send(corpus[1])  // work request after the ban: ignored
        var shutdown = ""
        var assigned = 0
        let deadline = Date().addingTimeInterval(30)  // the loop ends at the Shutdown; the bound is for load
        while Date() < deadline && shutdown.isEmpty {
            if try ZMQPoll.readable([dealer], timeoutMs: 50)[0] {
                while let f = try dealer.receive(dontWait: true) {
                    guard let e = try? Flowturbo_V1_Envelope(serializedBytes: f.last!) else { continue }
                    if case .shutdown(let s)? = e.body { shutdown = s.reason }
                    if case .assignment? = e.body { assigned += 1 }
                }
            }
        }
        XCTAssertTrue(shutdown.contains("malformed"), "expected a Shutdown naming the reason, got \"\(shutdown)\"")
        XCTAssertEqual(assigned, 0)
        // An honest peer (its own lease tokens) completes the run.
        let honest = try ScriptedPeer(
            context: context, control: "tcp://127.0.0.1:\(coordinator.controlPort)",
            data: "tcp://127.0.0.1:\(coordinator.dataPort)", workerID: "honest", models: config.models)
        let finished = honest.serve(evalSet: config.evalSet, seconds: 20) {
            if done.wait(timeout: .now()) == .success {
                done.signal()
                return true
            }
            return false
        }
        XCTAssertTrue(finished, "run did not complete: \(honest.shutdown?.reason ?? "no Shutdown")")
        XCTAssertEqual(summary?.completed, true)
        XCTAssertEqual(summary?.bannedWorkers, 1)
        XCTAssertGreaterThanOrEqual(summary?.droppedFrames ?? 0, config.maxMalformedPerPeer)
        dealer.close()
        honest.close()
    }

    /// Regression: a Shutdown that arrives while a shard is computing used to hang the worker forever
    /// (it waited for a flag only its control loop clears). It must finish the shard and exit.
    func testWorkerExitsOnShutdownWhileComputing() throws {
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.setLinger(0)
        try router.bind("tcp://127.0.0.1:0")
        let port = Int(try router.lastEndpoint().split(separator: ":").last!)!
        let backend = try ModelBackend(model: "gmm:synthetic", refiner: nil)
        var wc = WorkerConfig(connect: "tcp://127.0.0.1:\(port)", workerID: "slow")
        wc.batchDelayMs = 1500
        wc.giveUpSeconds = 10
        let worker = Worker(config: wc, backend: backend, context: context)
        let done = DispatchSemaphore(value: 0)
        var reason = ""
        Thread {
            reason = (try? worker.run())?.shutdownReason ?? "error"
            done.signal()
        }.start()
        // Hello → Welcome → WorkRequest → Assignment (2 batches × 1.5 s) → the worker's first heartbeat (1 s) says
        // it is busy → Shutdown. That heartbeat is the event that the shard is computing (a fixed 100 ms wait could end
        // before the compute thread started under load, and then the regression went untested).
        let evalSet = try EvalSet(samples: 16, classes: 4, seed: 1)
        var id: [UInt8] = []
        let deadline = Date().addingTimeInterval(30)  // the loop ends once the Shutdown is sent; the bound is for load
        var assigned = false
        var sentShutdown = false
        while Date() < deadline && !sentShutdown {
            guard try ZMQPoll.readable([router], timeoutMs: 50)[0], let f = try router.receive(dontWait: true),
                let e = try? Flowturbo_V1_Envelope(serializedBytes: f[1])
            else { continue }
            id = f[0]
            var out = Flowturbo_V1_Envelope()
            switch e.body {
            case .hello?:
                out.welcome.dataPort = 1
                out.welcome.heartbeatIntervalMs = 1000
                out.welcome.liveness = 10  // no reconnect for the silence of this router during the 3 s shard
                try router.send([id, try out.serializedBytes()])
            case .workRequest?:
                var a = Flowturbo_V1_ShardAssignment()
                a.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
                a.shardID = 0
                a.firstIndex = 0
                a.count = 16
                a.plan = "H8"
                a.batch = 8
                a.seed = 1
                a.models = backend.models
                a.leaseID = 1
                a.labels = evalSet.labels(first: 0, count: 16)
                out.assignment = a
                try router.send([id, try out.serializedBytes()])
                assigned = true
            case .heartbeat(let h)? where assigned && h.busy:
                var bye = Flowturbo_V1_Envelope()
                bye.shutdown.reason = "stop now"
                try router.send([id, try bye.serializedBytes()])
                sentShutdown = true
            default: break
            }
        }
        XCTAssertTrue(sentShutdown, "no busy heartbeat from the worker while it computed the shard")
        XCTAssertEqual(done.wait(timeout: .now() + 20), .success, "worker hung after a Shutdown during a shard")
        XCTAssertEqual(reason, "stop now")
    }
}
