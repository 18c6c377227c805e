import FlowTensor
import Foundation
import XCTest

/// Group commit under crashes, with the real binary: a run killed with SIGKILL at random moments (coordinator and
/// workers), then resumed, again and again, ends bit-identical to a clean run, verifies, and leaves no shard log.
final class GroupCommitCrashTests: XCTestCase {
    static let flags = [
        "--model", "gmm:synthetic", "--samples", "384", "--batch", "8", "--shard-size", "8",
        "--seed", "11", "--plan", "H4", "--quiet",
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

    /// Latents and labels of every shard, by file name.
    func shardFiles(_ run: String) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: run + "/latents")
        where name.hasSuffix(".npy") && !name.contains(".tmp") {
            out[name] = try FileIO.read(run + "/latents/" + name)
        }
        return out
    }

    func testKilledAtRandomMomentsThenResumedIsBitIdentical() throws {
        let reference = try Harness.referenceRun(Self.flags)
        let d = Harness.tempDir("crash")
        let run = d + "/run"
        var rng = SystemRandomNumberGenerator()
        var kills = 0
        var midRun: [Int] = []
        // Until three kills hit a run in progress (some shards committed, not all), at most 12 rounds.
        for round in 0..<12 where midRun.count < 3 {
            let resume = FileIO.exists(run + "/journal.log") ? ["--resume"] : []
            // Slowed workers (150 ms per batch, ~4 s of compute) so that random kills land mid-run.
            let p = try Harness.start(
                ["run", "--workers", "2", "--out", run, "--worker-batch-delay-ms", "150"]
                    + resume + Self.flags, logDir: d, tag: "r\(round)")
            // Kill at a random moment after this round committed its first shard (not a fixed delay from the
            // start: on a loaded machine start-up alone can outlast any fixed window, and no kill lands mid-run).
            let before = Harness.committedShards(run).count
            let deadline = Date().addingTimeInterval(120)
            while p.isRunning && Date() < deadline && Harness.committedShards(run).count <= before { usleep(5_000) }
            let at = Date().addingTimeInterval(Double.random(in: 0...1.5, using: &rng))
            while p.isRunning && Date() < at { usleep(5_000) }
            if p.isRunning {
                let workers = Harness.children(of: p.processIdentifier)
                kill(p.processIdentifier, SIGKILL)
                for w in workers { kill(w, SIGKILL) }
                kills += 1
                p.waitUntilExit()
                let n = Harness.committedShards(run).count
                if n > 0 && n < 48 { midRun.append(n) }
            }
            p.waitUntilExit()
        }
        let resume = FileIO.exists(run + "/journal.log") ? ["--resume"] : []
        let (status, err) = try Harness.run(
            ["run", "--workers", "2", "--out", run] + resume + Self.flags,
            logDir: d, tag: "final", timeout: 180)
        XCTAssertEqual(status, 0, err)
        let (vstatus, verr) = try Harness.run(["verify", run], logDir: d, tag: "verify")
        XCTAssertEqual(vstatus, 0, verr)
        let want = try shardFiles(reference)
        let got = try shardFiles(run)
        XCTAssertEqual(Set(got.keys), Set(want.keys))
        for (name, bytes) in want { XCTAssertEqual(got[name], bytes, "\(name) differs from the clean run") }
        let logs = try FileManager.default.contentsOfDirectory(atPath: run + "/latents").filter { $0.hasSuffix(".wal") }
        XCTAssertEqual(logs, [], "a finished run leaves no shard log segment")
        XCTAssertGreaterThan(midRun.count, 0, "no kill hit a run in progress")
        print("group commit crash test: \(kills) SIGKILLs, \(midRun.count) mid-run (shards committed then: \(midRun))")
    }
}
