import FlowTensor
import Foundation
import XCTest

/// `flowturbo stats compare --features classifier:PATH` maps samples through the shipped MNIST classifier's
/// penultimate layer: its metrics equal those of comparing features computed here independently (naive
/// float64 MLP forward from the safetensors tensors).
final class StatsFeaturesTests: XCTestCase {
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

    private func run(_ args: [String]) throws -> [String: Any] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: e, as: UTF8.self))
        return (try JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    func testClassifierFeatureSpaceMatchesIndependentForward() throws {
        let model = repo.appendingPathComponent("Models/classifier-mnist.safetensors").path
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("no shipped classifier at \(model)") }
        let f = try SafeTensors.load(model)
        let w1 = try f.tensor("fc1.weight")
        let b1 = try f.tensor("fc1.bias")
        let w2 = try f.tensor("fc2.weight")
        let b2 = try f.tensor("fc2.bias")
        func gelu(_ x: Double) -> Double {
            0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        }
        func layer(_ x: [Double], _ w: Tensor, _ b: Tensor) -> [Double] {
            let o = w.shape[0]
            let i = w.shape[1]
            return (0..<o).map { r in
                var s = Double(b.data[r])
                for k in 0..<i { s += Double(w.data[r * i + k]) * x[k] }
                return gelu(s)
            }
        }
        var rng = SeededRandom(seed: 99)
        let dir = NSTemporaryDirectory() + "featx-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, n, bias) in [("a", 40, 0.0), ("b", 50, 0.3)] {
            let x = (0..<(n * 784)).map { _ in Float(max(-1, min(1, rng.normal() * 0.6 - 0.4 + bias))) }
            try NPY.write(Tensor(shape: [n, 1, 28, 28], data: x), to: "\(dir)/\(name).npy")
            var feats: [Float] = []
            for r in 0..<n {
                let h1 = layer(x[(r * 784)..<((r + 1) * 784)].map(Double.init), w1, b1)
                feats += layer(h1, w2, b2).map(Float.init)
            }
            try NPY.write(Tensor(shape: [n, 256], data: feats), to: "\(dir)/f\(name).npy")
        }
        let viaCLI = try run([
            "stats", "compare", "\(dir)/a.npy", "\(dir)/b.npy", "--features", "classifier:\(model)", "--json",
        ])
        let direct = try run(["stats", "compare", "\(dir)/fa.npy", "\(dir)/fb.npy", "--json"])
        let fd1 = try XCTUnwrap(viaCLI["fd"] as? Double)
        let fd2 = try XCTUnwrap(direct["fd"] as? Double)
        XCTAssertGreaterThan(fd2, 0.1, "the two sets should differ in feature space")
        XCTAssertEqual(fd1, fd2, accuracy: 1e-4 * fd2)
        XCTAssertEqual(viaCLI["dimension"] as? Int, 256)
        for k in ["precision", "recall", "coverage"] {
            XCTAssertEqual(try XCTUnwrap(viaCLI[k] as? Double), try XCTUnwrap(direct[k] as? Double), accuracy: 1e-9, k)
        }
    }

    /// `flowturbo run --reference R --features classifier:PATH` scores the run in the classifier's feature space:
    /// report.json names the space and its FD equals `stats compare` of the exported samples in that space (a
    /// separate path through the statistics), and differs from the raw-pixel FD. `--features` without a
    /// reference is refused before any sample is computed.
    func testRunReportScoresInTheChosenFeatureSpace() throws {
        let model = repo.appendingPathComponent("Models/classifier-mnist.safetensors").path
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("no shipped classifier at \(model)") }
        let dir = Harness.tempDir("runfeat")
        defer { Harness.removeTempDirs() }
        let feat = "classifier:\(model)"
        var (st, err) = try Harness.run(
            [
                "sample", "--model", "gmm:mnist", "--plan", "H4", "--n", "40", "--seed", "7",
                "--out", "\(dir)/ref.npy",
            ], logDir: dir, tag: "sample")
        XCTAssertEqual(st, 0, err)
        (st, err) = try Harness.run(
            ["stats", "reference", "--latents", "\(dir)/ref.npy", "--features", feat, "--out", "\(dir)/ref.npz"],
            logDir: dir, tag: "ref")
        XCTAssertEqual(st, 0, err)
        (st, err) = try Harness.run(
            ["stats", "reference", "--latents", "\(dir)/ref.npy", "--out", "\(dir)/ref-raw.npz"],
            logDir: dir, tag: "refraw")
        XCTAssertEqual(st, 0, err)
        let common = [
            "run", "--model", "gmm:mnist", "--plan", "H4", "--samples", "32", "--batch", "8", "--workers", "1",
            "--quiet",
        ]
        (st, err) = try Harness.run(
            common + ["--reference", "\(dir)/ref.npz", "--features", feat, "--export-npz", "--out", "\(dir)/run"],
            logDir: dir, tag: "run", timeout: 120)
        XCTAssertEqual(st, 0, err)
        let report = try Harness.json("\(dir)/run/report.json")
        XCTAssertEqual(report["features"] as? String, feat)
        let fdRun = try XCTUnwrap(report["fd"] as? Double)
        let cmp = try run([
            "stats", "compare", "\(dir)/run/samples.npz", "\(dir)/ref.npy", "--features", feat, "--json",
        ])
        let fdCompare = try XCTUnwrap(cmp["fd"] as? Double)
        XCTAssertEqual(
            fdRun, fdCompare, accuracy: 1e-6 * max(1, fdCompare), "run report vs stats compare in the same space")
        (st, err) = try Harness.run(
            common + ["--reference", "\(dir)/ref-raw.npz", "--out", "\(dir)/run-raw"],
            logDir: dir, tag: "runraw", timeout: 120)
        XCTAssertEqual(st, 0, err)
        let fdRaw = try XCTUnwrap(try Harness.json("\(dir)/run-raw/report.json")["fd"] as? Double)
        XCTAssertGreaterThan(
            abs(fdRaw - fdRun), 1e-3 * max(fdRaw, fdRun), "raw and classifier spaces give different FDs")
        (st, err) = try Harness.run(
            common + ["--features", feat, "--out", "\(dir)/run-nofeat"], logDir: dir, tag: "nofeat")
        XCTAssertNotEqual(st, 0)
        XCTAssertTrue(err.contains("--reference"), err)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: "\(dir)/run-nofeat/journal.log"), "refused before the run started")
    }
}
