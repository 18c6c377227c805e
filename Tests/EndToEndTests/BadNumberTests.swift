import FlowTensor
import Foundation
import XCTest

/// The table of unchecked numbers: each must end in an error exit with a one-line message —
/// not a trap or failed allocation (death by signal) and not a hang (killed at the timeout).
final class BadNumberTests: XCTestCase {
    override class func tearDown() {
        Harness.removeTempDirs()
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
    }

    /// Runs the binary; returns (exited normally, status, stderr, timed out).
    func spawn(_ args: [String], dir: String, tag: String, timeout: Double = 30) throws -> (Bool, Int32, String, Bool) {
        let p = try Harness.start(args, logDir: dir, tag: tag)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        let hung = p.isRunning
        if hung { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        let err = (try? String(contentsOfFile: "\(dir)/\(tag).err", encoding: .utf8)) ?? ""
        return (p.terminationReason == .exit, p.terminationStatus, err, hung)
    }

    /// A safetensors file with only a SiT config in its metadata, one field replaced.
    func craftedModel(_ dir: String, field: String, value: Int) throws -> String {
        var cfg: [String: Any] = [
            "inputSize": 8, "patchSize": 2, "inChannels": 2, "hiddenSize": 24, "depth": 2,
            "numHeads": 3, "mlpHidden": 96, "numClasses": 4, "learnSigma": false,
            "isRefiner": false,
            "frequencyEmbeddingSize": 256,
        ]
        cfg[field] = value
        let json = String(
            decoding: try JSONSerialization.data(withJSONObject: cfg, options: [.sortedKeys]),
            as: UTF8.self)
        let path = dir + "/\(field)-\(value).safetensors"
        try SafeTensors.write(
            path, tensors: [], metadata: ["flowturbo.sit_config": json, "format": "flowturbo-sit-v1"])
        return path
    }

    func npy(_ path: String, _ dtype: NPYDType, _ shape: [Int], _ bytes: [UInt8]) throws -> String {
        try FileIO.writeAtomically(path, bytes.withUnsafeBytes { NPY.encode(dtype: dtype, shape: shape, body: $0) })
        return path
    }

    func testBadNumbersAreOneLineErrors() throws {
        let d = Harness.tempDir("badnum")
        let gen = [Float](repeating: 0.5, count: 8 * 4).enumerated().map { Float($0.offset % 5) * $0.element }
        let a = try npy(d + "/a.npy", .float32, [8, 4], gen.withUnsafeBytes { Array($0) })
        let b = try npy(d + "/b.npy", .float32, [8, 4], gen.reversed().withUnsafeBytes { Array($0) })
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Models/sit-mnist.safetensors").path
        let x = try npy(d + "/x.npy", .float32, [1, 1, 28, 28], [UInt8](repeating: 0, count: 784 * 4))
        let t = try npy(d + "/t.npy", .float32, [1], withUnsafeBytes(of: Float(0.5)) { Array($0) })
        let yMax = try npy(d + "/ymax.npy", .int64, [1], withUnsafeBytes(of: Int64.max.littleEndian) { Array($0) })
        let yMin = try npy(d + "/ymin.npy", .int64, [1], withUnsafeBytes(of: Int64.min.littleEndian) { Array($0) })
        let run = [
            "--model", "gmm:synthetic", "--samples", "16", "--batch", "8", "--plan", "H2", "--quiet",
            "--workers", "1",
        ]
        var cases: [[String]] = [
            ["run", "--samples", "9223372036854775807", "--out", d + "/r0", "--model", "gmm:synthetic", "--quiet"],
            ["run", "--samples", "1000000000000", "--out", d + "/r1", "--model", "gmm:synthetic", "--quiet"],
            ["run", "--max-message-mb", "17592186044416", "--out", d + "/r2"] + run,
            ["run", "--cfg", "nan", "--out", d + "/r3"] + run,
            ["run", "--batch", "0", "--out", d + "/r4"] + run.filter { $0 != "8" && $0 != "--batch" },
            ["worker", "--give-up-seconds", "nan", "--model", "gmm:synthetic", "--connect", "tcp://127.0.0.1:9"],
            ["bench", "cluster", "--control-workers", "0", "--shards", "4", "--samples", "16", "--dir", d + "/bench"],
            ["stats", "compare", a, b, "--projection-dim", "0", "--features", "random-projection"],
            ["stats", "compare", a, b, "--projection-dim", "2147483648", "--features", "random-projection"],
            [
                "stats", "reference", "--latents", a, "--out", d + "/ref.npz", "--projection-dim", "0",
                "--features", "random-projection",
            ],
            ["stats", "compare", a, b, "--swd-directions", "1099511627776"],
            [
                "sample", "--model", "gmm:synthetic", "--plan", "H2", "--n", "4611686018427387904", "--out",
                d + "/s.npy",
            ],
            ["sample", "--model", "gmm:mnist", "--plan", "H2", "--n", "50000000", "--out", d + "/s.npy"],
            ["sample", "--model", "gmm:synthetic", "--plan", "H2", "--n", "4", "--batch", "0", "--out", d + "/s.npy"],
        ]
        for v in ["nan", "inf", "1e308"] {
            cases.append(["run", "--lease-seconds", v, "--out", d + "/lease-\(v)"] + run)
        }
        for (field, value) in [("inputSize", 1 << 40), ("mlpHidden", 1 << 40), ("depth", 1_000_000_000)] {
            let m = try craftedModel(d, field: field, value: value)
            cases.append(["inspect", m])
            cases.append(["sample", "--model", m, "--plan", "H2", "--n", "2", "--out", d + "/m.npy"])
        }
        let classifier = (shipped as NSString).deletingLastPathComponent + "/classifier-mnist.safetensors"
        if FileManager.default.fileExists(atPath: classifier) {
            let nanBytes = [Float](repeating: .nan, count: 4 * 784).withUnsafeBytes { Array($0) }
            let nan = try npy(d + "/nan.npy", .float32, [4, 1, 28, 28], nanBytes)
            cases.append(["classify", "--samples", nan, "--classifier", classifier])
        }
        if FileManager.default.fileExists(atPath: shipped) {
            for y in [yMax, yMin] {
                cases.append(["forward", "--model", shipped, "--x", x, "--t", t, "--y", y, "--out", d + "/f.npy"])
            }
        }
        for (i, args) in cases.enumerated() {
            let (exited, status, err, hung) = try spawn(args, dir: d, tag: "case\(i)")
            let what = args.joined(separator: " ")
            XCTAssertFalse(hung, "hangs: \(what)")
            XCTAssertTrue(exited, "killed by signal \(status) (trap or failed allocation): \(what)\n\(err)")
            XCTAssertNotEqual(status, 0, "accepted: \(what)")
            let lines = err.split(separator: "\n").filter { !$0.hasPrefix("note:") }
            XCTAssertEqual(lines.count, 1, "expected a one-line error for \(what), got:\n\(err)")
        }
    }
}
