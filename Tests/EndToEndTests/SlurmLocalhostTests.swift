import Foundation
import XCTest

/// A real one-node Slurm on this machine: `Scripts/slurm-localhost.sh` installs Debian's Slurm and munge
/// if missing, starts munged/slurmctld/slurmd, submits both Slurm launchers (coordinator + srun workers
/// with per-node CurveZMQ keys; array parts + dependent merge) and compares their latents byte for byte
/// with a local `flowturbo run`. Skipped with the script's reason where that cannot happen (not root, no
/// apt, daemons cannot start).
final class SlurmLocalhostTests: XCTestCase {
    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    func testSlurmLaunchersOnOneNodeClusterMatchLocalRun() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
        guard getuid() == 0 else { throw XCTSkip("needs root to install and start Slurm (Scripts/slurm-localhost.sh)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [Self.root + "/Scripts/slurm-localhost.sh", Harness.binary]
        p.environment = ProcessInfo.processInfo.environment.merging(["TIMEOUT": "240"]) { _, new in new }
        let log = NSTemporaryDirectory() + "slurm-localhost-\(getpid()).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        p.standardOutput = FileHandle(forWritingAtPath: log)
        p.standardError = p.standardOutput
        let start = Date()
        try p.run()
        // The script bounds the jobs (240 s) and apt; this is the last resort (SIGTERM runs its cleanup).
        let finished = Harness.wait(timeout: 480) { !p.isRunning }
        if !finished {
            p.terminate()
            _ = Harness.wait(timeout: 20) { !p.isRunning }
        }
        p.waitUntilExit()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        print(output)
        print("SlurmLocalhostTests: \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        XCTAssertTrue(finished, "slurm-localhost.sh did not finish in 480 s")
        if p.terminationStatus == 77 {
            let reason = output.split(separator: "\n").first { $0.hasPrefix("SKIP:") } ?? "Slurm unavailable"
            throw XCTSkip(String(reason))
        }
        XCTAssertEqual(p.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("PASS:"), output)
    }
}
