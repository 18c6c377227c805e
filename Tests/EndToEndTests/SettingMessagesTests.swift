import Foundation
import XCTest

/// The CLI words the application layer's typed setting errors with its own flags: each refused combination ends
/// in exit status 1 and exactly the one-line message below, and nothing is written to the run directory.
final class SettingMessagesTests: XCTestCase {
    override class func tearDown() {
        Harness.removeTempDirs()
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
    }

    func testRefusedSettingsNameTheirFlags() throws {
        let d = Harness.tempDir("settings")
        let base = ["--model", "gmm:synthetic", "--samples", "16", "--plan", "H8", "--quiet"]
        let cases: [(args: [String], message: String)] = [
            (["run", "--overwrite", "--resume"], "--overwrite and --resume contradict each other; pick one"),
            (
                ["run", "--images-per-prompt", "2"],
                "--images-per-prompt applies to prompt runs; add --prompts FILE or drop it"
            ),
            (
                ["run", "--features", "random-projection"],
                "--features random-projection sets the metric space of --reference; add --reference STATS or drop "
                    + "--features"
            ),
            (
                ["run", "--part", "0/2", "--export-npz"],
                "--export-npz writes the whole run's samples; pass it to `flowturbo merge` instead of to a part"
            ),
            (["run", "--audit", "2"], "--audit 2.0: expected a fraction of shards between 0 and 1 (e.g. 0.05)"),
            (
                ["run", "--bind", "tcp://0.0.0.0:0"],
                "--bind tcp://0.0.0.0:0: `flowturbo run` serves only its local workers on loopback; for other hosts use "
                    + "`flowturbo coordinator` with --curve-secret/--allow"
            ),
            (
                ["coordinator", "--curve-secret", d + "/none.key"],
                "--curve-secret and --allow go together (the coordinator's secret key and the worker keys it accepts)"
            ),
            (
                ["coordinator", "--bind", "tcp://*:0"],
                "tcp://*:0 is reachable from other hosts but no keys were given: anyone could join, read latents or "
                    + "stop the run; pass --curve-secret KEY --allow WORKER_KEYS (`flowturbo keys generate --out keys`), "
                    + "or --insecure on a trusted network"
            ),
        ]
        for (i, c) in cases.enumerated() {
            let out = d + "/run\(i)"
            let (status, err) = try Harness.run(c.args + base + ["--out", out], logDir: d, tag: "case\(i)")
            XCTAssertEqual(status, 1, "\(c.args): \(err)")
            XCTAssertEqual(err.trimmingCharacters(in: .whitespacesAndNewlines), "Error: " + c.message, "\(c.args)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/journal.log"), "\(c.args) started a run")
        }
    }
}
