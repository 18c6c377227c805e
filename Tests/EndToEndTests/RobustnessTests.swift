import FlowCluster
import FlowModels
import FlowTensor
import Foundation
import XCTest

/// Issue 15 items 1–3 against the real binary on loopback: a hostile local process that reads
/// `endpoints.json` can neither change a run's latents nor stop it (`run` and `coordinator` + `worker`), a
/// misconfigured worker is refused at hello, and a run whose workers are all banned (NaN weights) ends with
/// one error line instead of waiting forever.
final class RobustnessTests: XCTestCase {
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

    func hostile(_ out: String) -> HostilePeer {
        HostilePeer(outDir: out, shards: 10, shardSize: 16, sampleSize: 16, classes: 4)
    }

    func cluster(_ out: String) throws -> [String: Any] {
        try Harness.json(out + "/report.json")["cluster"] as? [String: Any] ?? [:]
    }

    func testHostilePeerCannotPoisonOrStopLocalRun() throws {
        let ref = try Harness.samples(try reference())
        let d = Harness.tempDir("robust-run")
        let out = d + "/run"
        let attack = hostile(out)
        let args = ["run", "--workers", "2", "--out", out, "--worker-batch-delay-ms", "40"] + Self.common
        let (status, err) = try Harness.run(args, logDir: d, tag: "run", timeout: 90)
        attack.stop()
        XCTAssertEqual(status, 0, err)
        XCTAssertGreaterThan(attack.rounds, 0, "the attack never ran")
        XCTAssertEqual(attack.endpointsMode, 0o600, "endpoints.json must be private")
        XCTAssertEqual(attack.directoryMode, 0o700, "the run directory must be private")
        XCTAssertTrue(try Harness.samples(out).bytes == ref.bytes, "latents differ from a clean run")
        XCTAssertEqual(Harness.committedShards(out).sorted(), Array(0..<10))
        let c = try cluster(out)
        if CurveKeys.available {
            // A keyless (NULL mechanism) peer fails the CURVE handshake before the ZAP handler sees it.
            let refused = (c["auth_rejected"] as? Int ?? 0) + (c["rejected_connections"] as? Int ?? 0)
            XCTAssertGreaterThanOrEqual(refused, 1, "the private cluster refuses the keyless peer: \(c)")
            XCTAssertEqual(c["forged_results"] as? Int, 0, "nothing of the keyless peer may even arrive: \(c)")
        }
        XCTAssertEqual(c["banned_workers"] as? Int, 0, "\(c)")
        if let mode = PrivateFiles.mode(out + "/latents/shard-000000.npy") { XCTAssertEqual(mode, 0o600) }
    }

    func testHostilePeerCannotPoisonOrStopCoordinatorWithWorkers() throws {
        let ref = try Harness.samples(try reference())
        let d = Harness.tempDir("robust-coord")
        let out = d + "/run"
        let attack = hostile(out)
        let coord = try Harness.start(
            ["coordinator", "--bind", "tcp://127.0.0.1:0", "--out", out] + Self.common,
            logDir: d, tag: "coord")
        defer { if coord.isRunning { kill(coord.processIdentifier, SIGKILL) } }
        XCTAssertTrue(Harness.wait(timeout: 20) { FileManager.default.fileExists(atPath: out + "/endpoints.json") })
        let port = try Harness.json(out + "/endpoints.json")["control_port"] as! Int
        let connect = ["--connect", "tcp://127.0.0.1:\(port)", "--give-up-seconds", "30"]
        // A worker holding another model is refused at hello, exits with the reason, and the run goes on.
        let (misfit, misfitErr) = try Harness.run(
            ["worker", "--id", "misfit", "--model", "gmm:mnist"] + connect,
            logDir: d, tag: "misfit", timeout: 30)
        XCTAssertEqual(misfit, WorkerProcesses.refusedExitStatus, misfitErr)
        XCTAssertTrue(misfitErr.contains("refused by the coordinator"), misfitErr)
        XCTAssertTrue(misfitErr.contains("digest mismatch"), misfitErr)
        let workers = try (0..<2).map {
            try Harness.start(
                ["worker", "--id", "w\($0)", "--model", "gmm:synthetic", "--batch-delay-ms", "40"]
                    + connect, logDir: d, tag: "w\($0)")
        }
        XCTAssertTrue(Harness.wait(timeout: 90) { !coord.isRunning }, "coordinator did not finish")
        attack.stop()
        coord.waitUntilExit()
        for w in workers { w.waitUntilExit() }
        let coordErr = (try? String(contentsOfFile: d + "/coord.err", encoding: .utf8)) ?? ""
        XCTAssertEqual(coord.terminationStatus, 0, coordErr)
        XCTAssertGreaterThan(attack.rounds, 0, "the attack never ran")
        XCTAssertEqual(attack.endpointsMode, 0o600)
        XCTAssertTrue(try Harness.samples(out).bytes == ref.bytes, "latents differ from a clean run")
        XCTAssertEqual(Harness.committedShards(out).sorted(), Array(0..<10))
        let c = try cluster(out)
        XCTAssertGreaterThan(c["forged_results"] as? Int ?? 0, 0, "forged results must arrive and be refused: \(c)")
        XCTAssertGreaterThan(c["ignored_errors"] as? Int ?? 0, 0, "\(c)")
        XCTAssertEqual(c["refused_workers"] as? Int, 1, "\(c)")
        XCTAssertEqual(c["banned_workers"] as? Int, 0, "\(c)")
    }

    /// The README's single shared `worker.key`: a worker banned for NaN results must not revoke the key of the
    /// others; workers with the same key that connect afterwards finish the run with a clean run's bytes.
    func testSharedKeyBanDoesNotLockOutOtherWorkers() throws {
        guard CurveKeys.available else { throw XCTSkip("libzmq without CURVE") }
        let ref = try Harness.samples(try reference())
        let d = Harness.tempDir("robust-shared")
        let keys = d + "/keys"
        let (kstatus, kerr) = try Harness.run(["keys", "generate", "--out", keys], logDir: d, tag: "keys")
        XCTAssertEqual(kstatus, 0, kerr)
        let out = d + "/run"
        let coordArgs =
            [
                "coordinator", "--bind", "tcp://127.0.0.1:0", "--curve-secret", keys + "/coordinator.key",
                "--allow", keys + "/worker.pub", "--out", out,
            ] + Self.common
        let coord = try Harness.start(coordArgs, logDir: d, tag: "coord")
        defer { if coord.isRunning { kill(coord.processIdentifier, SIGKILL) } }
        XCTAssertTrue(Harness.wait(timeout: 20) { FileManager.default.fileExists(atPath: out + "/endpoints.json") })
        let port = try Harness.json(out + "/endpoints.json")["control_port"] as! Int
        let connect = [
            "--connect", "tcp://127.0.0.1:\(port)", "--model", "gmm:synthetic", "--give-up-seconds", "30",
            "--curve-server-key", keys + "/coordinator.pub", "--curve-secret", keys + "/worker.key",
        ]
        let (bad, badErr) = try Harness.run(
            ["worker", "--id", "nan", "--inject-nan"] + connect, logDir: d, tag: "nan",
            timeout: 60)
        XCTAssertEqual(bad, WorkerProcesses.refusedExitStatus, badErr)
        XCTAssertTrue(badErr.contains("NaN"), badErr)
        let good = try (0..<2).map {
            try Harness.start(["worker", "--id", "good\($0)"] + connect, logDir: d, tag: "good\($0)")
        }
        XCTAssertTrue(Harness.wait(timeout: 60) { !coord.isRunning }, "the shared key was locked out")
        coord.waitUntilExit()
        for w in good { w.waitUntilExit() }
        let coordErr = (try? String(contentsOfFile: d + "/coord.err", encoding: .utf8)) ?? ""
        XCTAssertEqual(coord.terminationStatus, 0, coordErr)
        XCTAssertTrue(try Harness.samples(out).bytes == ref.bytes, "latents differ from a clean run")
        let c = try cluster(out)
        XCTAssertEqual(c["banned_workers"] as? Int, 1, "\(c)")
        XCTAssertGreaterThanOrEqual(c["nonfinite_shards"] as? Int ?? 0, 3, "\(c)")
    }

    /// `--audit 1` with honest workers: every shard computed twice and compared, same bytes as a clean run; with
    /// one worker nobody can confirm, the audits are waived and the run still completes.
    func testAuditedRunsMatchCleanRun() throws {
        let ref = try Harness.samples(try reference())
        for workers in [3, 1] {
            let d = Harness.tempDir("robust-audit-\(workers)")
            let args = ["run", "--workers", String(workers), "--audit", "1", "--out", d + "/run"] + Self.common
            let (status, err) = try Harness.run(args, logDir: d, tag: "audit", timeout: 90)
            XCTAssertEqual(status, 0, err)
            XCTAssertTrue(try Harness.samples(d + "/run").bytes == ref.bytes, "\(workers) worker(s): latents differ")
            let c = try cluster(d + "/run")
            XCTAssertEqual(c["audit_selected"] as? Int, 10, "\(c)")
            XCTAssertEqual(c["audit_conflicts"] as? Int, 0, "honest workers always agree: \(c)")
            XCTAssertEqual(c["banned_workers"] as? Int, 0, "\(c)")
            if workers == 3 { XCTAssertGreaterThan(c["audit_confirmed"] as? Int ?? 0, 0, "\(c)") }
        }
        let d = Harness.tempDir("robust-audit-bad")
        let (status, err) = try Harness.run(
            ["run", "--audit", "1.5", "--out", d + "/run"] + Self.common, logDir: d,
            tag: "bad")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("--audit"), err)
    }

    /// A SiT checkpoint whose weights are all NaN (tiny: 1×8×8 samples).
    func nanModel(_ dir: String) throws -> String {
        let cfg = SiTConfig(
            inputSize: 8, patchSize: 4, inChannels: 1, hiddenSize: 16, depth: 1, numHeads: 2,
            numClasses: 4, learnSigma: false, isRefiner: false)
        let w = SiTWeights(config: cfg)
        for (name, _, buf) in w.named where name != "pos_embed" {
            buf.copy(from: [Float](repeating: .nan, count: buf.count))
        }
        let path = dir + "/nan.safetensors"
        try w.save(path)
        return path
    }

    /// The last line of stderr holds the error; it must name the cause and be one line.
    func assertNoProgressError(_ err: String, file: StaticString = #filePath, line: UInt = #line) {
        let lines = err.split(separator: "\n").filter { $0.contains("no worker can make progress") }
        XCTAssertEqual(lines.count, 1, err, file: file, line: line)
        XCTAssertTrue(lines.first?.contains("NaN") ?? false, err, file: file, line: line)
        XCTAssertTrue(lines.first?.contains("--resume") ?? false, err, file: file, line: line)
    }

    func assertJournalIntact(_ out: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let j = try Journal.read(out + "/journal.log")
        XCTAssertEqual(j.validLength, j.fileLength, "journal intact", file: file, line: line)
        XCTAssertEqual(j.commits.count, 0, "nothing NaN was committed", file: file, line: line)
    }

    func testAllWorkersBannedLocalRunEndsWithError() throws {
        let d = Harness.tempDir("robust-nan")
        let model = try nanModel(d)
        let started = Date()
        let args = [
            "run", "--workers", "2", "--model", model, "--plan", "H2", "--samples", "256", "--quiet",
            "--out", d + "/run",
        ]
        let (status, err) = try Harness.run(args, logDir: d, tag: "nan", timeout: 90)
        let seconds = Date().timeIntervalSince(started)
        print("RobustnessTests: NaN-weight run ended in \(String(format: "%.1f", seconds)) s")
        XCTAssertNotEqual(status, 0, err)
        XCTAssertLessThan(seconds, 60, "must end well within 90 s")
        assertNoProgressError(err)
        try assertJournalIntact(d + "/run")
    }

    func testAllWorkersBannedCoordinatorEndsWithError() throws {
        let d = Harness.tempDir("robust-nan-coord")
        let model = try nanModel(d)
        let out = d + "/run"
        let started = Date()
        let coord = try Harness.start(
            [
                "coordinator", "--bind", "tcp://127.0.0.1:0", "--model", model, "--plan", "H2",
                "--samples", "256", "--quiet", "--out", out,
            ], logDir: d, tag: "coord")
        defer { if coord.isRunning { kill(coord.processIdentifier, SIGKILL) } }
        XCTAssertTrue(Harness.wait(timeout: 20) { FileManager.default.fileExists(atPath: out + "/endpoints.json") })
        let port = try Harness.json(out + "/endpoints.json")["control_port"] as! Int
        let workerArgs = [
            "worker", "--connect", "tcp://127.0.0.1:\(port)", "--model", model, "--give-up-seconds", "20",
        ]
        let (wstatus, werr) = try Harness.run(workerArgs, logDir: d, tag: "worker", timeout: 60)
        XCTAssertEqual(wstatus, WorkerProcesses.refusedExitStatus, "a banned worker exits with the refusal: \(werr)")
        let ended = Harness.wait(timeout: 85 - Date().timeIntervalSince(started)) { !coord.isRunning }
        XCTAssertTrue(ended, "coordinator waits forever")
        coord.waitUntilExit()
        let seconds = Date().timeIntervalSince(started)
        print("RobustnessTests: NaN-weight coordinator ended in \(String(format: "%.1f", seconds)) s")
        XCTAssertNotEqual(coord.terminationStatus, 0)
        assertNoProgressError((try? String(contentsOfFile: d + "/coord.err", encoding: .utf8)) ?? "")
        try assertJournalIntact(out)
    }
}
