import FlowTensor
import XCTest

@testable import FlowModels

final class SiTCheckpointTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "sit-ckpt-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func model(_ cfg: SiTConfig) -> SiTModel {
        let w = SiTWeights(config: cfg)
        w.randomize(seed: 11, std: 0.2)
        return SiTModel(weights: w)
    }

    /// Writes the tensors only (as a converter from the PyTorch state dict would), without metadata.
    func saveBare(_ m: SiTModel, _ path: String) throws {
        try SafeTensors.write(
            path, tensors: m.weights.named.map { ($0.name, Tensor(shape: $0.shape, data: $0.buffer.array)) },
            metadata: [:])
    }

    func testRoundTripWithMetadataReproducesOutputs() throws {
        let cfg = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 2, numHeads: 3,
            numClasses: 4, learnSigma: true, isRefiner: false)
        let m = model(cfg)
        let path = dir + "/m.safetensors"
        try m.weights.save(path)
        let back = try SiTModel.load(path)
        XCTAssertEqual(back.config, cfg)
        let x = Tensor(shape: [1, 2, 8, 8], data: (0..<128).map { Float($0 % 7) / 7 })
        XCTAssertEqual(try back.forward(x: x, t: [0.4], y: [2]).data, try m.forward(x: x, t: [0.4], y: [2]).data)
    }

    func testDerivesConfigFromOfficialShapes() throws {
        let pred = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 3, numHeads: 3,
            numClasses: 4, learnSigma: true, isRefiner: false)
        try saveBare(model(pred), dir + "/p.safetensors")
        XCTAssertEqual(try SiTModel.load(dir + "/p.safetensors", heads: 3).config, pred)
        // Heads are not determined by the shapes for a non-standard width.
        XCTAssertThrowsError(try SiTModel.load(dir + "/p.safetensors")) { e in
            XCTAssertEqual((e as? FlowError)?.settings, [.heads], "\(e)")
        }
        // Refiner without learn_sigma: 2C in, C out — unambiguous.
        let ref = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 1, numHeads: 3,
            numClasses: 4, learnSigma: false, isRefiner: true)
        try saveBare(model(ref), dir + "/r.safetensors")
        XCTAssertEqual(try SiTModel.load(dir + "/r.safetensors", heads: 3).config, ref)
        // Refiner with learn_sigma looks like a predictor without it: --refiner decides.
        let ref2 = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 1, numHeads: 3,
            numClasses: 4, learnSigma: true, isRefiner: true)
        try saveBare(model(ref2), dir + "/r2.safetensors")
        XCTAssertEqual(try SiTModel.load(dir + "/r2.safetensors", heads: 3, refiner: true).config, ref2)
        let asPred = try SiTModel.load(dir + "/r2.safetensors", heads: 3).config
        XCTAssertFalse(asPred.isRefiner)
        XCTAssertEqual(asPred.inChannels, 4)
    }

    func testMissingTensorAndWrongShapeNameTheTensor() throws {
        let cfg = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 16, depth: 1, numHeads: 2,
            numClasses: 3, learnSigma: false, isRefiner: false)
        let m = model(cfg)
        var named = m.weights.named.map { ($0.name, Tensor(shape: $0.shape, data: $0.buffer.array)) }
        named.removeAll { $0.0 == "blocks.0.mlp.fc2.bias" }
        try SafeTensors.write(dir + "/missing.safetensors", tensors: named, metadata: cfg.metadata)
        XCTAssertThrowsError(try SiTModel.load(dir + "/missing.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("blocks.0.mlp.fc2.bias"), "\(e)")
            XCTAssertTrue("\(e)".contains("missing.safetensors"), "\(e)")
        }
        var wrong = m.weights.named.map { ($0.name, Tensor(shape: $0.shape, data: $0.buffer.array)) }
        let i = wrong.firstIndex { $0.0 == "blocks.0.attn.proj.weight" }!
        wrong[i].1 = Tensor(shape: [8, 32], data: wrong[i].1.data)
        try SafeTensors.write(dir + "/shape.safetensors", tensors: wrong, metadata: cfg.metadata)
        XCTAssertThrowsError(try SiTModel.load(dir + "/shape.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("blocks.0.attn.proj.weight"), "\(e)")
        }
    }
}
