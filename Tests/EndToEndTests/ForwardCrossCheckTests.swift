import FlowTensor
import Foundation
import XCTest

/// `flowturbo forward` (the real binary) against an independent numpy implementation of the official
/// SiT/FlowTurbo modules, on tensors-only checkpoints with official names (as converted from PyTorch).
final class ForwardCrossCheckTests: XCTestCase {
    private var repo: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }
    private var binary: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for d in [dir, dir.deletingLastPathComponent()]
        where FileManager.default.isExecutableFile(atPath: d.appendingPathComponent("flowturbo").path) {
            return d.appendingPathComponent("flowturbo").path
        }
        return Bundle.main.bundleURL.appendingPathComponent("flowturbo").path
    }

    @discardableResult
    private func run(_ exe: String, _ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    private func numpyAvailable() -> Bool {
        (try? run("/usr/bin/env", ["python3", "-c", "import numpy"]).0) == 0
    }

    func check(_ extra: [String], heads: Int, refiner: Bool, file: StaticString = #filePath, line: UInt = #line) throws
    {
        let dir = NSTemporaryDirectory() + "xcheck-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (rc, log) = try run(
            "/usr/bin/env",
            ["python3", repo.appendingPathComponent("Scripts/sit_numpy_reference.py").path, dir] + extra + [
                "--heads", "\(heads)",
            ])
        XCTAssertEqual(rc, 0, log, file: file, line: line)
        var args = [
            "forward", "--model", dir + "/model.safetensors", "--heads", "\(heads)", "--x", dir + "/x.npy",
            "--t", dir + "/t.npy", "--y", dir + "/y.npy", "--out", dir + "/out.npy",
        ]
        if refiner { args += ["--refiner", "--v", dir + "/v.npy"] }
        let (rc2, log2) = try run(binary, args)
        XCTAssertEqual(rc2, 0, log2, file: file, line: line)
        let got = try NPY.readTensor(dir + "/out.npy")
        let want = try NPY.readTensor(dir + "/expected.npy")
        XCTAssertEqual(got.shape, want.shape, file: file, line: line)
        var err: Float = 0
        var mag: Float = 0
        for i in 0..<want.count {
            err = max(err, abs(got.data[i] - want.data[i]))
            mag = max(mag, abs(want.data[i]))
        }
        XCTAssertLessThan(err / mag, 1e-5, "relative error", file: file, line: line)
    }

    func testForwardMatchesNumpyOfficialSemantics() throws {
        guard numpyAvailable() else { throw XCTSkip("python3 with numpy is not installed: cross-check skipped") }
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary), "flowturbo binary not found at \(binary)")
        try check(["--learn-sigma"], heads: 3, refiner: false)  // predictor, learn_sigma
        try check(
            ["--hidden", "32", "--depth", "3", "--patch", "4", "--size", "12", "--channels", "1"], heads: 2,
            refiner: false)
        try check(
            ["--refiner", "--depth", "1", "--hidden", "48", "--patch", "4", "--size", "16", "--channels", "4"],
            heads: 3, refiner: true)
        try check(["--refiner", "--learn-sigma", "--depth", "1"], heads: 3, refiner: true)  // the ambiguous case
    }
}
