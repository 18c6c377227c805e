import Foundation
import XCTest

/// `flowturbo bench sampler` compares the default plan with H8: the printed speed ratio and RMSE ratio are those of
/// the table rows of the two plans (baseline ms ÷ default ms, default RMS error ÷ baseline RMS error).
final class BenchSamplerCompareTests: XCTestCase {
    func testDefaultPlanAgainstH8Ratios() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.binary)
        p.arguments = [
            "bench", "sampler", "--skip-sit", "true", "--n", "4", "--batch", "4", "--repeats", "1",
            "--plans", "E4", "--tol", "1e-4", "--default-plan", "H1P2R1", "--refiner-step", "euler",
        ]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.contains("R steps euler") }, text)
        /// (ms/sample, RMS err) of a table row.
        func row(_ plan: String) -> (Double, Double)? {
            guard
                let l = lines.first(where: {
                    $0.hasPrefix("gmm:mnist")
                        && $0.split(separator: " ").dropFirst().first
                            .map(String.init) == plan
                })
            else { return nil }
            let f = l.split(separator: " ").compactMap { Double($0) }
            return f.count >= 3 ? (f[1], f[2]) : nil
        }
        let d = try XCTUnwrap(row("H1P2R1"), text)
        let b = try XCTUnwrap(row("H8"), text)
        let cmp = try XCTUnwrap(lines.first { $0.contains("default plan H1P2R1 vs H8: speed ratio") }, text)
        var cleaned = cmp
        for ch in ["×", "(", ")", ","] { cleaned = cleaned.replacingOccurrences(of: ch, with: " ") }
        let nums = cleaned.split(separator: " ").compactMap { Double($0) }
        XCTAssertEqual(nums.count, 6, cmp)
        guard nums.count == 6 else { return }
        // The line's own numbers, then against the table (ms/sample to 3 decimals, RMS error to 5).
        XCTAssertEqual(nums[0], nums[2] / nums[1], accuracy: 0.01 * nums[0] + 0.006, cmp)
        XCTAssertEqual(nums[3], nums[4] / nums[5], accuracy: 1e-3 * nums[3] + 1e-3, cmp)
        XCTAssertEqual(nums[1], d.0, accuracy: 1e-3, cmp)
        XCTAssertEqual(nums[2], b.0, accuracy: 1e-3, cmp)
        XCTAssertEqual(nums[4], d.1, accuracy: 1e-5, cmp)
        XCTAssertEqual(nums[5], b.1, accuracy: 1e-5, cmp)
        XCTAssertGreaterThan(nums[3], 1, "4 steps with an untrained refiner are less accurate than H8: \(cmp)")
    }
}
