import FlowTestSupport
import Foundation
import XCTest

/// Bounded `flowturbo fuzz` runs (in a child process, so a trap is reported with its reproducer instead of killing
/// the test runner) end with zero crashes and zero hangs.
final class FuzzCommandTests: XCTestCase {
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
}
