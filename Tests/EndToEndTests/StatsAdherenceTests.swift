import FlowTensor
import Foundation
import XCTest

/// `flowturbo stats adherence` on MNIST-test canvases composed independently in numpy
/// (`Tests/Fixtures/quad-adherence`, Scripts/make_quad_adherence_fixture.py) agrees with a naive float64 forward of
/// the shipped slot classifier and the GenEval rule written out here from the fixture's own spec file.
final class StatsAdherenceTests: XCTestCase {
    private var repo: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    private func gelu(_ x: Double) -> Double {
        0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    /// Naive forward: class of one 16×16 slot (10 = empty).
    private func classify(_ x: [Double], _ layers: [(w: Tensor, b: Tensor)]) -> Int {
        var h = x
        for (k, l) in layers.enumerated() {
            let o = l.w.shape[0]
            let i = l.w.shape[1]
            h = (0..<o).map { r in
                var s = Double(l.b.data[r])
                for c in 0..<i { s += Double(l.w.data[r * i + c]) * h[c] }
                return k < layers.count - 1 ? gelu(s) : s
            }
        }
        return h.indices.max { h[$0] < h[$1] }!
    }

    func testAdherenceMatchesIndependentForwardAndRule() throws {
        let model = repo.appendingPathComponent("Models/slot-classifier.safetensors").path
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("no shipped slot classifier") }
        let fx = repo.appendingPathComponent("Tests/Fixtures/quad-adherence").path
        let f = try SafeTensors.load(model)
        let layers = try (1...3).map { (w: try f.tensor("fc\($0).weight"), b: try f.tensor("fc\($0).bias")) }
        let specs = try String(contentsOfFile: fx + "/specs.txt", encoding: .utf8).split(separator: "\n")
        let q = try NPY.read(fx + "/canvases.npy")
        let n = specs.count
        let x = q.bytes.map { Float($0) / 127.5 - 1 }
        let dir = Harness.tempDir("adherence")
        try NPY.write(Tensor(shape: [n, 1, 32, 32], data: x), to: dir + "/s.npy")
        var right = [String: (Int, Int)]()
        let categories = ["single", "two", "column", "row", "count", "empty"]
        for i in 0..<n {
            let slots: [Int] = (0..<4).map { s in
                let r0 = s / 2 * 16
                let c0 = s % 2 * 16
                let px = (0..<256).map { Double(x[i * 1024 + (r0 + $0 / 16) * 32 + c0 + $0 % 16]) }
                return classify(px, layers)
            }
            let t = specs[i].split(separator: " ").map(String.init)
            let ok: Bool
            if t[0] == "count" {
                let d = Int(t[1])!
                let k = Int(t[2])!
                ok = slots.filter { $0 == d }.count == k && slots.filter { $0 != d && $0 != 10 }.isEmpty
            } else {
                ok = zip(slots, t.dropFirst()).allSatisfy { $0 == ($1 == "." ? 10 : Int($1)!) }
            }
            let c = categories[i / 40]
            right[c] = ((right[c]?.0 ?? 0) + (ok ? 1 : 0), (right[c]?.1 ?? 0) + 1)
        }
        let (st, out) = try runCLI([
            "stats", "adherence", "--samples", dir + "/s.npy",
            "--prompts", fx + "/prompts.txt",
        ])
        XCTAssertEqual(st, 0, out)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], out)
        let all = right.values.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        XCTAssertEqual(json["samples"] as? Int, n)
        // Float32 vs float64 may flip one near-tie slot: allow one sample.
        let overall = try XCTUnwrap(json["overall"] as? Double)
        XCTAssertEqual(overall, Double(all.0) / Double(n), accuracy: 1.5 / Double(n))
        let by = try XCTUnwrap(json["by_category"] as? [String: Double])
        for (c, v) in right { XCTAssertEqual(by[c] ?? -1, Double(v.0) / Double(v.1), accuracy: 1.5 / 40, c) }
        XCTAssertGreaterThanOrEqual(Double(all.0) / Double(n), 0.95, "calibration: real MNIST-test canvases")

        // A prompt outside the grammar, and a sample count that does not match, are one-line errors.
        try "a 1 in the top left\na photo of a cat\n".write(toFile: dir + "/bad.txt", atomically: true, encoding: .utf8)
        var (s2, e2) = try runCLI(["stats", "adherence", "--samples", dir + "/s.npy", "--prompts", dir + "/bad.txt"])
        XCTAssertNotEqual(s2, 0)
        XCTAssertTrue(e2.contains("a photo of a cat"), e2)
        (s2, e2) = try runCLI([
            "stats", "adherence", "--samples", dir + "/s.npy", "--prompts", fx + "/prompts.txt",
            "--images-per-prompt", "2",
        ])
        XCTAssertNotEqual(s2, 0)
        XCTAssertTrue(e2.contains("240 samples for 480"), e2)
    }

    /// Runs the CLI; returns (status, stdout on success else stderr).
    private func runCLI(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.binary)
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: p.terminationStatus == 0 ? o : e, as: UTF8.self))
    }
}
