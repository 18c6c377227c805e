import FlowTensor
import Foundation
import XCTest

/// `flowturbo forward --caption --caption-mask` (the real binary) against an independent numpy implementation of
/// the official PixArt-α modules (`Scripts/pixart_numpy_reference.py`), on tensors-only checkpoints with official
/// names: pred_sigma, 3 heads, padding masks (suffix and scattered), a null-caption row, refiners, pos_embed values
/// that differ from the default (lewei_scale 2), a file without pos_embed and an F64 file.
final class PixArtForwardCrossCheckTests: XCTestCase {
    private var repo: URL {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
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

    func check(
        _ extra: [String], heads: Int, refiner: Bool = false, refinerFlag: Bool = false,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let dir = NSTemporaryDirectory() + "pixart-xcheck-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = repo.appendingPathComponent("Scripts/pixart_numpy_reference.py").path
        let (rc, log) = try run("/usr/bin/env", ["python3", script, dir] + extra + ["--heads", "\(heads)"])
        XCTAssertEqual(rc, 0, log, file: file, line: line)
        var args = [
            "forward", "--model", dir + "/model.safetensors", "--heads", "\(heads)", "--x", dir + "/x.npy",
            "--t", dir + "/t.npy", "--caption", dir + "/caption.npy", "--caption-mask", dir + "/mask.npy",
            "--out", dir + "/out.npy",
        ]
        if refiner { args += ["--v", dir + "/v.npy"] }
        if refinerFlag { args += ["--refiner"] }
        let (rc2, log2) = try run(binary, args)
        XCTAssertEqual(rc2, 0, log2, file: file, line: line)
        let got = try NPY.readTensor(dir + "/out.npy")
        let want = try NPY.readTensor(dir + "/expected.npy")
        XCTAssertEqual(got.shape, want.shape, file: file, line: line)
        guard got.shape == want.shape else { return }
        var err: Float = 0
        var mag: Float = 0
        for i in 0..<want.count {
            err = max(err, abs(got.data[i] - want.data[i]))
            mag = max(mag, abs(want.data[i]))
        }
        XCTAssertGreaterThan(mag, 1e-3, "degenerate reference", file: file, line: line)
        XCTAssertLessThan(err / mag, 1e-5, "relative error \(extra)", file: file, line: line)
    }

    func testForwardMatchesNumpyOfficialSemantics() throws {
        guard (try? run("/usr/bin/env", ["python3", "-c", "import numpy"]).0) == 0 else {
            throw XCTSkip("python3 with numpy is not installed: cross-check skipped")
        }
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary), "flowturbo binary not found at \(binary)")
        try check(["--learn-sigma", "--null-row"], heads: 3)
        try check(
            [
                "--hidden", "32", "--depth", "3", "--patch", "4", "--size", "12", "--channels", "1",
                "--caption-len", "9",
            ], heads: 2)
        try check(
            [
                "--learn-sigma", "--null-row", "--lewei-scale", "2", "--batch", "5", "--hidden", "48",
                "--channels", "4", "--size", "16", "--caption-channels", "32", "--tokens", "12",
            ], heads: 3)
        try check(["--no-pos-embed", "--null-row"], heads: 3)
        try check(["--f64", "--learn-sigma", "--null-row"], heads: 3)  // F64 tensors, rounded on load
        try check(["--refiner", "--depth", "1", "--null-row"], heads: 3, refiner: true)
        try check(["--refiner", "--learn-sigma", "--depth", "1"], heads: 3, refiner: true, refinerFlag: true)
    }

    /// `flowturbo sample --caption-features` end to end: guided H2P1 sampling of a tensors-only PixArt-α file with an
    /// .npz of caption features and padding masks; the batch size changes nothing beyond float32 rounding.
    func testSampleWithCaptionFeatures() throws {
        guard (try? run("/usr/bin/env", ["python3", "-c", "import numpy"]).0) == 0 else {
            throw XCTSkip("python3 with numpy is not installed: sample check skipped")
        }
        let dir = NSTemporaryDirectory() + "pixart-sample-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = repo.appendingPathComponent("Scripts/pixart_numpy_reference.py").path
        XCTAssertEqual(try run("/usr/bin/env", ["python3", script, dir, "--learn-sigma", "--batch", "5"]).0, 0)
        let pack =
            "import numpy as np; np.savez('\(dir)/cap.npz', features=np.load('\(dir)/caption.npy'), "
            + "mask=np.load('\(dir)/mask.npy'))"
        XCTAssertEqual(try run("/usr/bin/env", ["python3", "-c", pack]).0, 0)
        var outs: [Tensor] = []
        for batch in ["5", "2"] {
            let (rc, log) = try run(
                binary,
                [
                    "sample", "--model", dir + "/model.safetensors", "--heads", "3",
                    "--plan", "H2P1", "--cfg", "2.5", "--caption-features", dir + "/cap.npz",
                    "--batch", batch,
                    "--out", dir + "/s\(batch).npy",
                ])
            XCTAssertEqual(rc, 0, log)
            outs.append(try NPY.readTensor(dir + "/s\(batch).npy"))
        }
        XCTAssertEqual(outs[0].shape, [5, 2, 8, 8])
        for i in 0..<outs[0].count { XCTAssertEqual(outs[0].data[i], outs[1].data[i], accuracy: 1e-5) }
        let (rc, log) = try run(
            binary,
            [
                "sample", "--model", dir + "/model.safetensors", "--heads", "3",
                "--plan", "H2", "--caption-features", dir + "/caption.npy",
                "--out", dir + "/bad.npy",
            ])
        XCTAssertNotEqual(rc, 0, "a .npy instead of an .npz must be refused")
        XCTAssertFalse(log.isEmpty)
    }
}
