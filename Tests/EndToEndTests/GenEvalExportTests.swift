import FlowTensor
import Foundation
import XCTest

/// `flowturbo export --format geneval` on a tiny random PixArt-α prompt run (skipped without Models/minilm): one
/// folder per prompt with GenEval's `metadata.jsonl` (original fields, JSON arrays decoded, plus `prompt`) and
/// `samples/%04d.png` per image, whose pixels equal the adm-npz export of the same run.
final class GenEvalExportTests: XCTestCase {
    static let prompts = """
        {"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"}
        {"tag": "two_object", "include": [{"class": "cat", "count": 1}, {"class": "dog"}], "prompt": "a cat, a dog"}
        {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a photo of a red car"}

        """

    func testGenEvalLayoutOfAPromptRun() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
        for f in ["model.safetensors", "vocab.txt"]
        where !FileManager.default.fileExists(atPath: PromptRunTests.encoder + "/" + f) {
            throw XCTSkip("\(PromptRunTests.encoder)/\(f) is missing: run Scripts/fetch-minilm.sh")
        }
        let d = Harness.tempDir("geneval")
        defer { Harness.removeTempDirs() }
        try PromptRunTests.writeModel(d + "/pixart.safetensors")
        try Self.prompts.write(toFile: d + "/meta.jsonl", atomically: true, encoding: .utf8)
        var (st, err) = try Harness.run(
            ["run", "--workers", "1", "--out", d + "/run"]
                + PromptRunTests.common(d + "/pixart.safetensors", d + "/meta.jsonl"),
            logDir: d, tag: "run", timeout: 120)
        XCTAssertEqual(st, 0, err)
        (st, err) = try Harness.run(
            ["export", "--format", "geneval", d + "/run", "--out", d + "/ge"],
            logDir: d, tag: "ge")
        XCTAssertEqual(st, 0, err)
        (st, err) = try Harness.run(
            ["export", "--format", "adm-npz", d + "/run", "--out", d + "/s.npz"],
            logDir: d, tag: "npz")
        XCTAssertEqual(st, 0, err)
        let npz = try XCTUnwrap(NPZ.read(d + "/s.npz")["arr_0"])
        XCTAssertEqual(npz.shape, [6, 8, 8, 3])
        let folders = try FileManager.default.contentsOfDirectory(atPath: d + "/ge").sorted()
        XCTAssertEqual(folders, ["00000", "00001", "00002"])
        let lines = Self.prompts.split(separator: "\n")
        for p in 0..<3 {
            let folder = d + "/ge/" + String(format: "%05d", p)
            let meta = String(decoding: try FileIO.read(folder + "/metadata.jsonl"), as: UTF8.self)
            XCTAssertEqual(meta.filter { $0 == "\n" }.count, 1, "one line")
            let got = try JSONSerialization.jsonObject(with: Data(meta.utf8)) as? NSDictionary
            let want = try JSONSerialization.jsonObject(with: Data(lines[p].utf8)) as? NSDictionary
            XCTAssertEqual(got, want, "metadata of prompt \(p)")
            XCTAssertEqual(
                try FileManager.default.contentsOfDirectory(atPath: folder + "/samples").sorted(),
                ["0000.png", "0001.png"])
            for k in 0..<2 {
                let file = folder + "/samples/" + String(format: "%04d.png", k)
                let (w, h, c, px) = try ExportTests.decodePNG(try FileIO.read(file))
                XCTAssertEqual([w, h, c], [8, 8, 1])
                let i = p * 2 + k
                let ref = stride(from: i * 64 * 3, to: (i + 1) * 64 * 3, by: 3).map { npz.bytes[$0] }
                XCTAssertEqual(px, ref, "prompt \(p) image \(k)")
            }
        }
    }
}
