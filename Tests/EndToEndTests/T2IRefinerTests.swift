import FlowModels
import FlowTensor
import Foundation
import XCTest

/// `flowturbo train-t2i-refiner` through the real binary against a random tiny quad-canvas predictor (1×32×32,
/// 384 caption channels, L_max 20), then the refiner in `run --prompts --refiner` and `sample --caption-features`.
/// Needs Models/minilm, data/mnist and the training caption cache in data/ (made by `train-t2i`); skipped without.
final class T2IRefinerTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static var encoder: String { repo + "/Models/minilm" }
    static var cache: String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: repo + "/data")) ?? []
        return names.first { $0.hasPrefix("quad-captions-") && $0.hasSuffix("-L20.safetensors") }
            .map { repo + "/data/" + $0 }
    }

    override class func tearDown() {
        Harness.removeTempDirs()
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
        let needed = [Self.encoder + "/model.safetensors", Self.repo + "/data/mnist/train-images-idx3-ubyte.gz"]
        for f in needed where !FileManager.default.fileExists(atPath: f) {
            throw XCTSkip("\(f) is missing (Scripts/fetch-minilm.sh, Scripts/fetch-mnist.sh)")
        }
        guard Self.cache != nil else { throw XCTSkip("no data/quad-captions-*-L20.safetensors (run train-t2i once)") }
    }

    func train(_ d: String, _ predictor: String, _ out: String, steps: Int, extra: [String] = []) throws {
        let (status, err) = try Harness.run(
            [
                "train-t2i-refiner", "--predictor", predictor, "--out", out, "--steps", String(steps), "--batch", "4",
                "--lr", "1e-2", "--checkpoint-every", "2", "--threads", "1", "--data", Self.repo + "/data/mnist",
                "--encoder", Self.encoder, "--caption-cache", Self.cache!,
            ] + extra,
            logDir: d, tag: "train-\(steps)", timeout: 300)
        XCTAssertEqual(status, 0, err)
    }

    func testTrainResumeAndSampleWithTheRefiner() throws {
        let d = Harness.tempDir("t2iref")
        let p = d + "/pixart.safetensors"
        let cfg = PixArtConfig(
            inputSize: 32, patchSize: 8, inChannels: 1, hiddenSize: 32, depth: 1, numHeads: 2,
            captionChannels: 384, captionTokens: 20, learnSigma: false, isRefiner: false)
        let w = PixArtWeights(config: cfg)
        w.randomize(seed: 3, std: 0.2)
        try w.save(p)
        // 4 steps straight vs 2 steps, then --resume to 4: the same weights.
        try train(d, p, d + "/r.safetensors", steps: 4)
        try train(d, p, d + "/r2.safetensors", steps: 2)
        try train(d, p, d + "/r2.safetensors", steps: 4, extra: ["--resume"])
        let a = try SafeTensors.load(d + "/r.safetensors")
        let b = try SafeTensors.load(d + "/r2.safetensors")
        let ref = try PixArtModel.load(d + "/r.safetensors", refiner: true)
        XCTAssertEqual(ref.config.depth, 1)
        XCTAssertTrue(ref.isRefiner)
        for (name, _, _) in ref.weights.named {
            XCTAssertTrue(try a.tensor(name).data == b.tensor(name).data, "\(name) differs after --resume")
        }
        XCTAssertEqual(a.metadata["flowturbo.train_predictor_sha256"], SHA256.hex(try FileIO.read(p)))
        XCTAssertEqual(a.metadata["flowturbo.train_steps"], "4")
        XCTAssertFalse(ref.weights.finalW.array.allSatisfy { $0 == 0 }, "the output layer never left zero")

        // A prompt run with the refiner: NFE of H1P5R3 = 2 + 5 predictor + 3·2 refiner calls (heun R steps).
        try "a 7 in the top left\ntwo sixes\n".write(toFile: d + "/p.txt", atomically: true, encoding: .utf8)
        let common = ["--model", p, "--plan", "H1P5R3", "--cfg", "2", "--batch", "2", "--seed", "4"]
        let (s1, e1) = try Harness.run(
            [
                "run", "--workers", "1", "--prompts", d + "/p.txt", "--images-per-prompt", "2", "--refiner",
                d + "/r.safetensors", "--text-encoder", Self.encoder, "--export-npz", "--quiet", "--out", d + "/run",
            ]
                + common, logDir: d, tag: "run", timeout: 300)
        XCTAssertEqual(s1, 0, e1)
        let report = try Harness.json(d + "/run/report.json")
        XCTAssertEqual(report["nfe_per_sample"] as? Double, 13)
        let run = try NPZ.read(d + "/run/samples.npz")["arr_0"]!.floats()

        // The same samples from `sample --caption-features` on `text embed` features (row i = prompt i / 2).
        let (s2, e2) = try Harness.run(
            [
                "text", "embed", "--prompts", d + "/p.txt", "--token-features", "--pad-to", "20",
                "--encoder", Self.encoder, "--out", d + "/feat.npz",
            ], logDir: d, tag: "embed")
        XCTAssertEqual(s2, 0, e2)
        let f = try NPZ.read(d + "/feat.npz")
        let features = try XCTUnwrap(f["features"])
        let mask = try XCTUnwrap(f["mask"])
        let fl = 20 * 384 * 4
        let ml = mask.bytes.count / 2
        var fb: [UInt8] = []
        var mb: [UInt8] = []
        for i in 0..<4 {
            fb += features.bytes[(i / 2 * fl)..<((i / 2 + 1) * fl)]
            mb += mask.bytes[(i / 2 * ml)..<((i / 2 + 1) * ml)]
        }
        try NPZ.write(
            d + "/rep.npz",
            arrays: [
                (name: "features", array: NPYArray(dtype: .float32, shape: [4, 20, 384], bytes: fb)),
                (name: "mask", array: NPYArray(dtype: mask.dtype, shape: [4, 20], bytes: mb)),
            ])
        func sample(_ refiner: String, _ out: String) throws -> [Float] {
            let (s, e) = try Harness.run(
                [
                    "sample", "--refiner", refiner, "--caption-features", d + "/rep.npz",
                    "--n", "4", "--out", out,
                ] + common, logDir: d, tag: "sample")
            XCTAssertEqual(s, 0, e)
            return try NPY.read(out).floats()
        }
        let want = try sample(d + "/r.safetensors", d + "/sample.npy")
        XCTAssertEqual(run.count, want.count)
        let scale = want.map { abs($0) }.max() ?? 1
        let err = zip(run, want).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(err, 1e-4 * max(scale, 1), "run --refiner vs sample --refiner: max |diff| \(err)")
        // The refiner is used: an untrained one (zero output layer) gives other samples.
        try train(d, p, d + "/r0.safetensors", steps: 0, extra: ["--checkpoint", d + "/r0.ckpt"])
        XCTAssertNotEqual(try sample(d + "/r0.safetensors", d + "/sample0.npy"), want)
    }
}
