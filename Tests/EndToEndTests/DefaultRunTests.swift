import FlowTensor
import Foundation
import XCTest

/// The main job with no flags is FlowTurbo on the shipped models, and its report carries quality figures:
/// FD against the shipped MNIST-test statistics in classifier space and class agreement, recomputed here with an
/// independent float64 forward of the shipped classifier.
final class DefaultRunTests: XCTestCase {
    private var repo: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    override func tearDown() { Harness.removeTempDirs() }

    /// Requested class of every sample and the class an independent float64 MLP forward assigns to it.
    private func independentAgreement(_ npz: String, classifier: String) throws -> (Double, [Int: Double]) {
        let z = try NPZ.read(npz)
        let x = try XCTUnwrap(z["arr_0"]).floats()
        let labels = try XCTUnwrap(z["labels"]).int64s()
        let f = try SafeTensors.load(classifier)
        let layers = try (1...3).map { (try f.tensor("fc\($0).weight"), try f.tensor("fc\($0).bias")) }
        func gelu(_ v: Double) -> Double {
            0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
        }
        var hits = [Int: (Int, Int)]()
        for (i, label) in labels.enumerated() {
            var h = (0..<784).map { Double(x[i * 784 + $0]) }
            for (k, (w, b)) in layers.enumerated() {
                let o = w.shape[0]
                let n = w.shape[1]
                h = (0..<o).map { r in
                    var s = Double(b.data[r])
                    for c in 0..<n { s += Double(w.data[r * n + c]) * h[c] }
                    return k < 2 ? gelu(s) : s
                }
            }
            let predicted = h.indices.max { h[$0] < h[$1] }!
            let c = Int(label)
            hits[c] = ((hits[c]?.0 ?? 0) + (predicted == c ? 1 : 0), (hits[c]?.1 ?? 0) + 1)
        }
        let all = hits.values.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        return (Double(all.0) / Double(all.1), hits.mapValues { Double($0.0) / Double($0.1) })
    }

    func testDefaultRunIsFlowTurboAndReportsQuality() throws {
        let models = repo.appendingPathComponent("Models").path
        for f in [
            "sit-mnist.safetensors", "refiner-mnist.safetensors", "classifier-mnist.safetensors",
            "mnist-test-classifier.npz",
        ] where !FileManager.default.fileExists(atPath: models + "/" + f) {
            throw XCTSkip("shipped file Models/\(f) missing")
        }
        let dir = Harness.tempDir("default")
        // Few samples: the debug build runs the SiT's elementwise code unoptimised (~3 s of CPU per sample).
        let common = ["run", "--batch", "4", "--workers", "1", "--quiet"]
        var (st, err) = try Harness.run(
            common + ["--samples", "8", "--export-npz", "--out", "\(dir)/run"], logDir: dir, tag: "run",
            timeout: 300)
        XCTAssertEqual(st, 0, err)
        let report = try Harness.json("\(dir)/run/report.json")
        let plan = try XCTUnwrap(report["plan"] as? String)
        XCTAssertTrue(plan.contains("R"), "the default plan uses the refiner: \(plan)")
        XCTAssertNotNil(report["fd"] as? Double, "fd against the shipped reference")
        XCTAssertEqual(report["features"] as? String, "classifier")
        let agreement = try XCTUnwrap(report["class_agreement"] as? [String: Any])
        let perClass = try XCTUnwrap(agreement["per_class"] as? [String: Double])
        let (overall, expected) = try independentAgreement(
            "\(dir)/run/samples.npz",
            classifier: models + "/classifier-mnist.safetensors")
        XCTAssertEqual(try XCTUnwrap(agreement["overall"] as? Double), overall, accuracy: 1e-12)
        for (c, v) in expected { XCTAssertEqual(perClass[String(c)] ?? -1, v, accuracy: 1e-12, "class \(c)") }
        let md = try String(contentsOfFile: "\(dir)/run/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("Class agreement"), "printed summary shows class agreement")

        // A different R-step shape is a different run: --resume refuses it, naming the field.
        (st, err) = try Harness.run(
            common + ["--samples", "8", "--refiner-step", "heun", "--resume", "--out", "\(dir)/run"], logDir: dir,
            tag: "resume", timeout: 120)
        XCTAssertNotEqual(st, 0)
        XCTAssertTrue(err.contains("refinerStep"), err)

        // --reference none: no quality figures.
        (st, err) = try Harness.run(
            common + ["--samples", "4", "--reference", "none", "--out", "\(dir)/plain"],
            logDir: dir, tag: "plain", timeout: 300)
        XCTAssertEqual(st, 0, err)
        let plain = try Harness.json("\(dir)/plain/report.json")
        XCTAssertNil(plain["fd"])
        XCTAssertNil(plain["class_agreement"])
    }
}
