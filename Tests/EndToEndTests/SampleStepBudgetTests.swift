import FlowTensor
import Foundation
import XCTest

/// `flowturbo sample --plan dopri5 --max-steps N`: a solve that cannot finish in N steps fails the command with a
/// one-line error naming the sample and the fix, and writes no output; with the default budget the same run succeeds.
final class SampleStepBudgetTests: XCTestCase {
    override class func tearDown() {
        Harness.removeTempDirs()
        super.tearDown()
    }

    func testUnconvergedDopri5FailsWithoutOutput() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
        let d = Harness.tempDir("maxsteps")
        let args = ["sample", "--model", "gmm:synthetic", "--plan", "dopri5", "--n", "3", "--seed", "2"]
        let (status, err) = try Harness.run(
            args + ["--max-steps", "3", "--out", d + "/short.npy"], logDir: d,
            tag: "short")
        XCTAssertNotEqual(status, 0)
        let lines = err.split(separator: "\n").filter { !$0.hasPrefix("note:") }
        XCTAssertEqual(lines.count, 1, err)
        XCTAssertTrue(err.contains("did not converge for sample 0"), err)
        XCTAssertTrue(err.contains("--max-steps"), err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/short.npy"))
        let (ok, okErr) = try Harness.run(args + ["--out", d + "/full.npy"], logDir: d, tag: "full")
        XCTAssertEqual(ok, 0, okErr)
        XCTAssertEqual(try NPY.read(d + "/full.npy").shape, [3, 16])
    }
}
