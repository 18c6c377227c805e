import FlowTensor
import Foundation
import XCTest

/// Coordinator-free parts (`run --part I/N`) and `merge`, with real processes on loopback (gmm:mnist):
/// three merged parts against one two-worker run, byte for byte; gaps and overlaps; a killed part resumed;
/// progress lines on a non-terminal stderr.
final class PartsMergeTests: XCTestCase {
    static let common = [
        "--model", "gmm:mnist", "--samples", "96", "--batch", "8", "--shard-size", "16",
        "--seed", "5", "--plan", "H4", "--reference", "none",
    ]

    override class func tearDown() {
        Harness.removeTempDirs()
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
    }

    /// Runs part `i` of 3 into `dir/pi`.
    func runPart(_ i: Int, _ d: String, extra: [String] = []) throws -> String {
        let out = d + "/p\(i)"
        let (status, err) = try Harness.run(
            ["run", "--workers", "1", "--part", "\(i)/3", "--out", out, "--quiet"]
                + Self.common + extra, logDir: d, tag: "p\(i)", timeout: 120)
        XCTAssertEqual(status, 0, err)
        return out
    }

    func files(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir + "/latents").filter { $0.hasSuffix(".npy") }.sorted()
    }

    func testThreePartsMergedAreBitIdenticalToOneTwoWorkerRun() throws {
        let d = Harness.tempDir("parts")
        let (s1, e1) = try Harness.run(
            ["run", "--workers", "2", "--out", d + "/whole", "--export-npz", "--quiet"]
                + Self.common, logDir: d, tag: "whole", timeout: 120)
        XCTAssertEqual(s1, 0, e1)
        let parts = try (0..<3).map { try runPart($0, d) }
        // Round-robin: part i holds shards i and i + 3 of the 6.
        for (i, p) in parts.enumerated() { XCTAssertEqual(Harness.committedShards(p).sorted(), [i, i + 3]) }
        let (s2, e2) = try Harness.run(
            ["merge"] + parts + ["--out", d + "/merged", "--export-npz"],
            logDir: d, tag: "merge", timeout: 120)
        XCTAssertEqual(s2, 0, e2)
        let names = try files(d + "/whole")
        XCTAssertEqual(names.count, 12)  // 6 shards × (latents + labels)
        XCTAssertEqual(try files(d + "/merged"), names)
        for n in names {
            let a = try FileIO.read(d + "/whole/latents/" + n)
            let b = try FileIO.read(d + "/merged/latents/" + n)
            XCTAssertTrue(a == b, "\(n) differs between the merged parts and the single run")
        }
        XCTAssertTrue(try FileIO.read(d + "/whole/samples.npz") == FileIO.read(d + "/merged/samples.npz"))
        XCTAssertEqual(Harness.committedShards(d + "/merged"), Array(0..<6))
        // Each shard keeps the worker of the part that computed it (part-prefixed ids stay apart when merged).
        let workers = Harness.journal(d + "/merged").dropFirst().map { $0["worker"] as? String ?? "" }
        XCTAssertEqual(workers, (0..<6).map { "part\($0 % 3)-local-0" })
        let (sv, ev) = try Harness.run(["verify", d + "/merged"], logDir: d, tag: "verify")
        XCTAssertEqual(sv, 0, ev)
        let report = try Harness.json(d + "/merged/report.json")
        XCTAssertEqual(report["complete"] as? Bool, true)
        XCTAssertEqual(report["workers"] as? Int, 3)
        // The merged directory is a whole run: --resume with the run's flags has nothing left to compute.
        let (sr, er) = try Harness.run(
            ["run", "--workers", "1", "--out", d + "/merged", "--resume", "--quiet"]
                + Self.common, logDir: d, tag: "resume", timeout: 120)
        XCTAssertEqual(sr, 0, er)
        XCTAssertEqual(Harness.committedShards(d + "/merged").count, 6)
    }

    func testGapAndOverlapAreNamedErrors() throws {
        let d = Harness.tempDir("gap")
        let p0 = try runPart(0, d)
        let p2 = try runPart(2, d)
        let (sg, eg) = try Harness.run(["merge", p0, p2, "--out", d + "/m1"], logDir: d, tag: "gap")
        XCTAssertNotEqual(sg, 0)
        XCTAssertTrue(eg.contains("gap") && eg.contains("shards 1, 4") && eg.contains("part 1/3"), eg)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/m1/journal.log"))
        let (so, eo) = try Harness.run(["merge", p0, p2, p0, "--out", d + "/m2"], logDir: d, tag: "overlap")
        XCTAssertNotEqual(so, 0)
        XCTAssertTrue(eo.contains("shard 0") && eo.contains("overlapping"), eo)
        let (sd, ed) = try Harness.run(
            [
                "run", "--workers", "1", "--part", "1/3", "--out", d + "/p1x", "--quiet",
                "--model", "gmm:mnist", "--samples", "96", "--batch", "8", "--shard-size", "16",
                "--seed", "6", "--plan", "H4", "--reference", "none",
            ], logDir: d, tag: "p1x")
        XCTAssertEqual(sd, 0, ed)
        let (sm, em) = try Harness.run(["merge", p0, d + "/p1x", p2, "--out", d + "/m3"], logDir: d, tag: "mixed")
        XCTAssertNotEqual(sm, 0)
        XCTAssertTrue(em.contains("not a part of the same run") && em.contains("seed"), em)
    }

    func testPartIndexIsZeroBased() throws {
        let d = Harness.tempDir("index")
        let (s, e) = try Harness.run(
            ["run", "--workers", "1", "--part", "4/3", "--out", d + "/p", "--quiet"]
                + Self.common, logDir: d, tag: "p3")
        XCTAssertNotEqual(s, 0)
        XCTAssertTrue(e.contains("0-based") && e.contains("0 to 2"), e)
        // A part has only some of the samples: samples.npz belongs to the merged run.
        let (sn, en) = try Harness.run(
            [
                "run", "--workers", "1", "--part", "0/3", "--out", d + "/q", "--quiet",
                "--export-npz",
            ] + Self.common, logDir: d, tag: "npz")
        XCTAssertNotEqual(sn, 0)
        XCTAssertTrue(en.contains("flowturbo merge"), en)
    }

    func testKilledPartResumesAndRefusesAnotherPart() throws {
        let d = Harness.tempDir("kill")
        let out = d + "/p1"
        let args = ["run", "--workers", "1", "--part", "1/3", "--out", out, "--quiet"] + Self.common
        let p = try Harness.start(args + ["--worker-batch-delay-ms", "300"], logDir: d, tag: "first")
        XCTAssertTrue(Harness.wait(timeout: 60) { Harness.committedShards(out).count >= 1 }, "no shard committed")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        for c in Harness.children(of: p.processIdentifier) { kill(c, SIGKILL) }
        XCTAssertLessThan(Harness.committedShards(out).count, 2, "the part finished before it was killed")
        let other = ["run", "--workers", "1", "--part", "2/3", "--out", out, "--resume", "--quiet"] + Self.common
        let (so, eo) = try Harness.run(other, logDir: d, tag: "other", timeout: 60)
        XCTAssertNotEqual(so, 0)
        XCTAssertTrue(eo.contains("part"), eo)
        // verify: a part is finished when every shard of the part is intact (exit 2 before, 0 after).
        XCTAssertEqual(try Harness.run(["verify", out], logDir: d, tag: "verify1").0, 2)
        let (sr, er) = try Harness.run(args + ["--resume"], logDir: d, tag: "resume", timeout: 120)
        XCTAssertEqual(sr, 0, er)
        XCTAssertEqual(Harness.committedShards(out).sorted(), [1, 4])
        let (sv, ev) = try Harness.run(["verify", out], logDir: d, tag: "verify2")
        XCTAssertEqual(sv, 0, ev)
        let ref = try runPart(1, d + "/ref")
        for n in try files(ref) {
            XCTAssertTrue(try FileIO.read(ref + "/latents/" + n) == FileIO.read(out + "/latents/" + n), n)
        }
    }

    func testProgressLinesOnNonTerminalStderr() throws {
        let d = Harness.tempDir("progress")
        let (s, e) = try Harness.run(
            [
                "run", "--workers", "2", "--out", d + "/run", "--progress-interval", "0.3",
                "--worker-batch-delay-ms", "300",
            ] + Self.common, logDir: d, tag: "run",
            timeout: 120)
        XCTAssertEqual(s, 0, e)
        let pattern =
            #"^progress: (\d+)/96 samples \((\d+\.\d)%\), (\d+\.\d) samples/s, ETA (\d+ s|\?), "#
            + #"workers (\d+), requeues (\d+)$"#
        let re = try NSRegularExpression(pattern: pattern)
        let lines = e.split(separator: "\n").map(String.init).filter {
            re.firstMatch(in: $0, range: NSRange($0.startIndex..., in: $0)) != nil
        }
        XCTAssertGreaterThanOrEqual(lines.count, 2, e)
        XCTAssertEqual(lines.last?.hasPrefix("progress: 96/96 samples (100.0%)"), true, e)
        XCTAssertFalse(e.contains("\r"), "a non-terminal stderr gets lines, not a redrawn bar")
    }
}
