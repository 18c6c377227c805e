import FlowModels
import FlowTensor
import Foundation
import XCTest

/// Prompt evaluation sets through the real binary: a random-weight tiny PixArt-α (384 caption channels, L_max 16)
/// with the MiniLM encoder (skipped when Models/minilm is absent). Checks the same bytes for 1 and 2 workers and
/// after a coordinator kill + --resume, prompt-major order and labels, prompts.jsonl, the report's text_encoder stage
/// and categories, agreement with `text embed --token-features` + `sample --caption-features`, and refusals.
final class PromptRunTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static var encoder: String { repo + "/Models/minilm" }
    static let prompts =
        "id\tPrompt\tCategory\n"
        + "p0\ta red fox in the snow\tAnimals\n\n"
        + "p1\ta blue whale, singing\tAnimals\n"
        + "p2\ta city skyline at night\tArts\n"
    static var setup: (dir: String, model: String, file: String, reference: String)?

    override class func tearDown() {
        Harness.removeTempDirs()
        setup = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
        for f in ["model.safetensors", "vocab.txt"]
        where !FileManager.default.fileExists(atPath: Self.encoder + "/" + f) {
            throw XCTSkip("\(Self.encoder)/\(f) is missing: run Scripts/fetch-minilm.sh (Scripts/install-deps.sh does)")
        }
    }

    /// Writes a random tiny PixArt-α predictor: 1×8×8 latents, patch 2, D 32, depth 2, C_caption channels, L_max 16.
    static func writeModel(_ path: String, captionChannels: Int = 384) throws {
        let cfg = PixArtConfig(
            inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 32, depth: 2, numHeads: 2,
            captionChannels: captionChannels, captionTokens: 16, learnSigma: false,
            isRefiner: false)
        let w = PixArtWeights(config: cfg)
        w.randomize(seed: 7, std: 0.2)
        try w.save(path)
    }

    static func common(_ model: String, _ file: String) -> [String] {
        [
            "--model", model, "--refiner", "none", "--plan", "H2", "--cfg", "2", "--prompts", file,
            "--images-per-prompt", "2", "--batch", "2", "--shard-size", "2", "--seed", "5", "--quiet",
            "--text-encoder", encoder,
        ]
    }

    /// Model, prompt file and the one-worker reference run, made once.
    func shared() throws -> (dir: String, model: String, file: String, reference: String) {
        if let s = Self.setup { return s }
        let d = Harness.tempDir("prompts")
        try Self.writeModel(d + "/pixart.safetensors")
        try Self.prompts.write(toFile: d + "/parti.tsv", atomically: true, encoding: .utf8)
        let (status, err) = try Harness.run(
            ["run", "--workers", "1", "--out", d + "/one", "--export-npz"]
                + Self.common(d + "/pixart.safetensors", d + "/parti.tsv"),
            logDir: d, tag: "one", timeout: 120)
        XCTAssertEqual(status, 0, err)
        Self.setup = (d, d + "/pixart.safetensors", d + "/parti.tsv", d + "/one")
        return Self.setup!
    }

    func testTwoWorkersGiveTheSameBytesPromptMajorWithIndexAndReport() throws {
        let s = try shared()
        let one = try Harness.samples(s.reference)
        XCTAssertEqual(one.count, 6)
        XCTAssertEqual(one.labels, [0, 0, 1, 1, 2, 2], "labels are the prompt index i / K")
        let (status, err) = try Harness.run(
            ["run", "--workers", "2", "--out", s.dir + "/two"]
                + Self.common(s.model, s.file), logDir: s.dir, tag: "two", timeout: 120)
        XCTAssertEqual(status, 0, err)
        let two = try Harness.samples(s.dir + "/two")
        XCTAssertTrue(one.bytes == two.bytes, "latents differ between 1 and 2 workers")
        // Distinct prompts give distinct images; the K images of one prompt differ by their noise.
        let row = 64 * 4
        XCTAssertNotEqual(Array(one.bytes[0..<row]), Array(one.bytes[row..<(2 * row)]))

        let npz = try NPZ.read(s.reference + "/samples.npz")
        XCTAssertEqual(npz["arr_0"]?.shape, [6, 1, 8, 8])
        XCTAssertTrue(npz["arr_0"]?.bytes == one.bytes, "samples.npz arr_0 must be the samples in index order")
        XCTAssertEqual(try npz["labels"]?.int64s(), [0, 0, 1, 1, 2, 2])

        let lines = try String(contentsOfFile: s.reference + "/prompts.jsonl", encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let texts = ["a red fox in the snow", "a blue whale, singing", "a city skyline at night"]
        XCTAssertEqual(lines.count, 6)
        for (i, l) in lines.enumerated() {
            XCTAssertEqual(l["index"] as? Int, i)
            XCTAssertEqual(l["k"] as? Int, i % 2)
            XCTAssertEqual(l["id"] as? String, "p\(i / 2)")
            XCTAssertEqual(l["prompt"] as? String, texts[i / 2])
            XCTAssertEqual(l["category"] as? String, i < 4 ? "Animals" : "Arts")
        }
        let attrs = try FileManager.default.attributesOfItem(atPath: s.reference + "/prompts.jsonl")
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)

        let report = try Harness.json(s.reference + "/report.json")
        let stages = report["latency_ms_by_stage"] as? [String: Any] ?? [:]
        XCTAssertNotNil(stages["text_encoder"], "report stages: \(stages.keys.sorted())")
        let cats = report["per_category"] as? [String: [String: Int]] ?? [:]
        XCTAssertEqual(cats["Animals"]?["samples"], 4)
        XCTAssertEqual(cats["Animals"]?["prompts"], 2)
        XCTAssertEqual(cats["Arts"]?["samples"], 2)
        XCTAssertEqual(report["images_per_prompt"] as? Int, 2)
        let header = Harness.journal(s.reference).first ?? [:]
        XCTAssertEqual(header["imagesPerPrompt"] as? Int, 2)
        XCTAssertTrue((header["models"] as? [String] ?? []).contains { $0.hasPrefix("text_encoder=") })
    }

    /// Sample i equals `flowturbo sample --caption-features` of its prompt's `text embed` features, same seed/index.
    func testSamplesMatchSampleCommandOnTextEmbedFeatures() throws {
        let s = try shared()
        let d = s.dir
        let (st1, e1) = try Harness.run(
            [
                "text", "embed", "--prompts", s.file, "--token-features", "--pad-to", "16",
                "--encoder", Self.encoder, "--out", d + "/feat.npz",
            ], logDir: d, tag: "embed")
        XCTAssertEqual(st1, 0, e1)
        let f = try NPZ.read(d + "/feat.npz")
        let features = try XCTUnwrap(f["features"])
        let mask = try XCTUnwrap(f["mask"])
        XCTAssertEqual(features.shape, [3, 16, 384])
        // Row i of the sample command's input = prompt i / 2.
        let fl = 16 * 384 * 4
        let ml = 16 * 8
        var fb: [UInt8] = []
        var mb: [UInt8] = []
        for i in 0..<6 {
            fb += features.bytes[(i / 2 * fl)..<((i / 2 + 1) * fl)]
            mb += mask.bytes[(i / 2 * ml)..<((i / 2 + 1) * ml)]
        }
        try NPZ.write(
            d + "/rep.npz",
            arrays: [
                (name: "features", array: NPYArray(dtype: .float32, shape: [6, 16, 384], bytes: fb)),
                (name: "mask", array: NPYArray(dtype: mask.dtype, shape: [6, 16], bytes: mb)),
            ])
        let (st2, e2) = try Harness.run(
            [
                "sample", "--model", s.model, "--refiner", "none", "--plan", "H2",
                "--cfg", "2", "--caption-features", d + "/rep.npz", "--n", "6",
                "--batch", "2", "--seed", "5", "--out", d + "/sample.npy",
            ],
            logDir: d, tag: "sample")
        XCTAssertEqual(st2, 0, e2)
        let want = try NPY.read(d + "/sample.npy").floats()
        let run = try NPZ.read(s.reference + "/samples.npz")["arr_0"]!.floats()
        XCTAssertEqual(run.count, want.count)
        // Token features are encoded per prompt in the run and for the whole file in `text embed`: equal up to
        // float32 rounding of the encoder's matrix products.
        let scale = want.map { abs($0) }.max() ?? 1
        let err = zip(run, want).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(err, 1e-4 * max(scale, 1), "run vs sample --caption-features: max |diff| \(err)")
        XCTAssertGreaterThan(scale, 0)
    }

    func testCoordinatorKillThenResumeGivesTheSameBytes() throws {
        let s = try shared()
        let out = s.dir + "/killed"
        let p = try Harness.start(
            ["run", "--workers", "1", "--out", out, "--worker-batch-delay-ms", "500"]
                + Self.common(s.model, s.file), logDir: s.dir, tag: "killed")
        XCTAssertTrue(
            Harness.wait(timeout: 60) { Harness.committedShards(out).count >= 1 }, "no commit before the kill")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertLessThan(
            Harness.committedShards(out).count, 3, "run finished before the kill; the test proves nothing")
        let (status, err) = try Harness.run(
            ["run", "--workers", "2", "--out", out, "--resume"]
                + Self.common(s.model, s.file), logDir: s.dir, tag: "resumed",
            timeout: 120)
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(
            try Harness.samples(out).bytes == Harness.samples(s.reference).bytes,
            "latents differ after a coordinator kill + --resume")
        XCTAssertEqual(
            try String(contentsOfFile: out + "/prompts.jsonl", encoding: .utf8),
            try String(contentsOfFile: s.reference + "/prompts.jsonl", encoding: .utf8))
    }

    /// --resume with another encoder (same weights, a different config.json) is refused by the journal header.
    func testResumeWithAnotherEncoderAndWrongModelsAreRefused() throws {
        let s = try shared()
        let other = s.dir + "/minilm-other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        for f in ["model.safetensors", "vocab.txt", "sentence_bert_config.json"]
        where FileManager.default.fileExists(atPath: Self.encoder + "/" + f) {
            try FileManager.default.createSymbolicLink(
                atPath: other + "/" + f, withDestinationPath: Self.encoder + "/" + f)
        }
        let config = try String(contentsOfFile: Self.encoder + "/config.json", encoding: .utf8)
        try (config + "\n").write(toFile: other + "/config.json", atomically: true, encoding: .utf8)
        var args = ["run", "--workers", "1", "--out", s.reference, "--resume"] + Self.common(s.model, s.file)
        args[args.count - 1] = other
        let (status, err) = try Harness.run(args, logDir: s.dir, tag: "other-encoder")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("--resume") && err.contains("text_encoder="), err)

        try Self.writeModel(s.dir + "/pixart-8.safetensors", captionChannels: 8)
        let (st8, err8) = try Harness.run(
            ["run", "--workers", "1", "--out", s.dir + "/c8"]
                + Self.common(s.dir + "/pixart-8.safetensors", s.file),
            logDir: s.dir, tag: "c8")
        XCTAssertNotEqual(st8, 0)
        XCTAssertTrue(err8.contains("384") && err8.split(separator: "\n").count <= 2, err8)

        let (stc, errc) = try Harness.run(
            [
                "run", "--workers", "1", "--out", s.dir + "/cls", "--model", "gmm:synthetic",
                "--prompts", s.file, "--quiet",
            ], logDir: s.dir, tag: "cls")
        XCTAssertNotEqual(stc, 0)
        XCTAssertTrue(errc.contains("no text conditioning"), errc)
    }
}
