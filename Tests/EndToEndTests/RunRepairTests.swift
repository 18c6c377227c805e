import FlowTensor
import Foundation
import XCTest

/// Run-directory robustness with the real binary on loopback: `--resume` repairs damaged, missing and
/// mislabelled shards bit-identically (compared byte for byte with a clean run), `verify` finds the damage
/// without touching anything, an empty `--out` is refused, and a second run cannot share a locked directory.
final class RunRepairTests: XCTestCase {
    static let common = [
        "--model", "gmm:synthetic", "--samples", "96", "--batch", "8", "--shard-size", "16",
        "--seed", "5", "--plan", "H4", "--quiet",
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

    /// Every file of a run that must be bit-identical: latents and labels of each shard, by name.
    func shardFiles(_ run: String) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: run + "/latents")
        where name.hasSuffix(".npy") && !name.contains(".tmp") {
            out[name] = try FileIO.read(run + "/latents/" + name)
        }
        return out
    }

    /// Every byte under `dir` (to prove a command changed nothing).
    func snapshot(_ dir: String) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        let e = FileManager.default.enumerator(atPath: dir)
        while let rel = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
                out[rel] = try FileIO.read(dir + "/" + rel)
            }
        }
        return out
    }

    func testResumeRepairsDamagedLabelsAndDeletedShardsBitIdentically() throws {
        let d = Harness.tempDir("repair")
        let clean = d + "/clean"
        let run = d + "/run"
        var (status, err) = try Harness.run(
            ["run", "--workers", "1", "--out", clean] + Self.common, logDir: d,
            tag: "clean")
        XCTAssertEqual(status, 0, err)
        (status, err) = try Harness.run(["run", "--workers", "1", "--out", run] + Self.common, logDir: d, tag: "first")
        XCTAssertEqual(status, 0, err)
        let reference = try shardFiles(clean)
        XCTAssertEqual(reference.count, 12, "6 shards × (latents + labels)")
        XCTAssertEqual(try shardFiles(run), reference, "two clean runs must agree")
        (status, _) = try Harness.run(["verify", run], logDir: d, tag: "verify-clean")
        XCTAssertEqual(status, 0, "a clean run verifies")

        // Damage: one latents byte flipped, a labels file with a wrong label, a deleted shard (latents only).
        var latents = try FileIO.read(run + "/latents/shard-000001.npy")
        latents[latents.count - 3] ^= 0x40
        try FileIO.writeAtomically(run + "/latents/shard-000001.npy", latents)
        var labels = try FileIO.read(run + "/latents/shard-000002.labels.npy")
        labels[labels.count - 4] ^= 0x01
        try FileIO.writeAtomically(run + "/latents/shard-000002.labels.npy", labels)
        try FileManager.default.removeItem(atPath: run + "/latents/shard-000004.npy")

        // verify: reports all three, exit ≠ 0, changes nothing.
        let before = try snapshot(run)
        (status, _) = try Harness.run(["verify", run], logDir: d, tag: "verify-damaged")
        XCTAssertNotEqual(status, 0, "verify must fail on a damaged run")
        let out = (try? String(contentsOfFile: d + "/verify-damaged.out", encoding: .utf8)) ?? ""
        for shard in [1, 2, 4] {
            XCTAssertTrue(
                out.contains("shard \(shard) "),
                "verify must name shard "
                    + "\(shard): \(out)")
        }
        XCTAssertEqual(try snapshot(run), before, "verify must be read-only")

        // --resume: verifies first, recomputes exactly the three damaged shards, ends bit-identical to the clean run.
        (status, err) = try Harness.run(
            [
                "run", "--workers", "1", "--out", run, "--resume",
                "--export-npz",
            ] + Self.common,
            logDir: d, tag: "resume")
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(try shardFiles(run), reference, "resume must restore every shard bit-identically")
        let report = try Harness.json(run + "/report.json")
        let cluster = report["cluster"] as? [String: Any] ?? [:]
        XCTAssertEqual(
            cluster["committed_this_session"] as? Int, 3,
            "only the damaged shards are recomputed: "
                + "\(cluster)")
        XCTAssertEqual(try Harness.json(run + "/manifest.json")["complete"] as? Bool, true)
        let npz = try NPZ.read(run + "/samples.npz")
        XCTAssertEqual(
            try npz["labels"]?.int64s(), (0..<96).map { Int64($0 % 4) },
            "exported labels (4 "
                + "classes, balanced)")
        (status, _) = try Harness.run(["verify", run], logDir: d, tag: "verify-repaired")
        XCTAssertEqual(status, 0, "the repaired run verifies")
    }

    func testEmptyOutIsRefused() throws {
        let d = Harness.tempDir("emptyout")
        let rootJournalBefore = FileManager.default.fileExists(atPath: "/journal.log")
        // --resume keeps even an unfixed binary from writing into / (it fails on the missing journal instead).
        let (status, err) = try Harness.run(
            ["run", "--workers", "1", "--out", "", "--resume"] + Self.common,
            logDir: d, tag: "empty", timeout: 30)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("--out") && err.contains("empty"), "the error must name the empty --out: \(err)")
        XCTAssertEqual(FileManager.default.fileExists(atPath: "/journal.log"), rootJournalBefore)
        let (status2, err2) = try Harness.run(["run", "--out", "/"] + Self.common, logDir: d, tag: "root", timeout: 30)
        XCTAssertNotEqual(status2, 0)
        XCTAssertTrue(err2.contains("--out"), err2)
    }

    func testSecondRunOnALockedDirectoryIsRefused() throws {
        let d = Harness.tempDir("lock")
        let run = d + "/run"
        let first = try Harness.start(
            [
                "run", "--workers", "1", "--out", run, "--worker-batch-delay-ms",
                "300",
            ] + Self.common,
            logDir: d, tag: "first")
        XCTAssertTrue(Harness.wait(timeout: 30) { Harness.committedShards(run).count >= 1 }, "no shard committed")
        for extra in [[], ["--resume"], ["--overwrite"]] {
            let (status, err) = try Harness.run(
                ["run", "--workers", "1", "--out", run] + extra + Self.common,
                logDir: d, tag: "second", timeout: 30)
            XCTAssertNotEqual(status, 0, "a second run \(extra) on a directory in use must be refused")
            XCTAssertTrue(err.contains("in use"), err)
        }
        XCTAssertTrue(Harness.wait(timeout: 60) { !first.isRunning }, "the first run did not finish")
        first.waitUntilExit()
        XCTAssertEqual(
            first.terminationStatus, 0,
            (try? String(
                contentsOfFile: d + "/first.err",
                encoding: .utf8)) ?? "")
        let shards = Harness.committedShards(run)
        XCTAssertEqual(shards.sorted(), Array(0..<6), "every shard exactly once: the second runs wrote nothing")
    }
}
