import FlowTensor
import Foundation
import XCTest

/// `flowturbo text embed` (the real binary) on the fixture prompts of the original sentence-transformers run.
final class TextEmbedCommandTests: XCTestCase {
    var repo: URL {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    var fixtures: String { repo.appendingPathComponent("Tests/FlowTextTests/Fixtures").path }
    var encoder: String { repo.appendingPathComponent("Models/minilm").path }

    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
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
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testEmbedTokensAndTokenFeatures() throws {
        guard FileIO.exists(encoder + "/model.safetensors") else {
            throw XCTSkip("\(encoder) is missing: run Scripts/fetch-minilm.sh (Scripts/install-deps.sh does)")
        }
        let dir = NSTemporaryDirectory() + "text-embed-\(getpid())"
        try FileIO.makeDirectories(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prompts = fixtures + "/prompts.txt"

        let r = try run(["text", "embed", "--prompts", prompts, "--out", dir + "/e.npy", "--encoder", encoder])
        XCTAssertEqual(r.status, 0, r.err)
        let got = try NPY.read(dir + "/e.npy")
        let want = try NPY.read(fixtures + "/embeddings.npy")
        XCTAssertEqual(got.dtype, .float32)
        XCTAssertEqual(got.shape, want.shape)
        let g = got.doubles()
        let w = want.doubles()
        let d = 384
        for i in 0..<want.shape[0] {
            var dot = 0.0
            var ng = 0.0
            var nw = 0.0
            for j in 0..<d {
                dot += g[i * d + j] * w[i * d + j]
                ng += g[i * d + j] * g[i * d + j]
                nw += w[i * d + j] * w[i * d + j]
            }
            XCTAssertGreaterThanOrEqual(dot / (ng * nw).squareRoot(), 0.99999, "prompt \(i)")
        }

        let t = try run(["text", "embed", "--prompts", prompts, "--tokens", "--encoder", encoder])
        XCTAssertEqual(t.status, 0, t.err)
        let ids = try JSONDecoder().decode([[Int]].self, from: Data(FileIO.read(fixtures + "/token_ids.json")))
        let lines = t.out.split(separator: "\n").map { try? JSONDecoder().decode([Int].self, from: Data($0.utf8)) }
        XCTAssertEqual(lines, ids)

        let f = try run([
            "text", "embed", "--prompts", prompts, "--token-features", "--pad-to", "16",
            "--out", dir + "/f.npz", "--encoder", encoder,
        ])
        XCTAssertEqual(f.status, 0, f.err)
        let z = try NPZ.read(dir + "/f.npz")
        XCTAssertEqual(z["features"]?.shape, [ids.count, 16, 384])
        XCTAssertEqual(z["mask"]?.shape, [ids.count, 16])
        let mask = try z["mask"]!.int64s()
        let inputIDs = try z["input_ids"]!.int64s()
        for (i, s) in ids.enumerated() {
            XCTAssertEqual(mask[(i * 16)..<((i + 1) * 16)].reduce(0, +), Int64(s.count))
            XCTAssertEqual(inputIDs[(i * 16)..<(i * 16 + s.count)].map { Int($0) }, s)
        }
    }

    func testMissingEncoderIsOneLineErrorNamingTheScript() throws {
        let r = try run([
            "text", "embed", "--prompts", fixtures + "/prompts.txt", "--out", "/tmp/none.npy",
            "--encoder", "/nonexistent/minilm",
        ])
        XCTAssertNotEqual(r.status, 0)
        let msg = r.err.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(msg.contains("Scripts/fetch-minilm.sh"), msg)
        XCTAssertFalse(msg.contains("\n"), msg)
    }
}
