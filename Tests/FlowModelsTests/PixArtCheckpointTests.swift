import FlowTensor
import XCTest

@testable import FlowModels

final class PixArtCheckpointTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "pixart-ckpt-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Writes the tensors only (as a converter from the PyTorch state dict would), optionally without pos_embed.
    func saveBare(_ m: PixArtModel, _ path: String, dropping: String? = nil) throws {
        let tensors = m.weights.named.filter { $0.name != dropping }
            .map { (name: $0.name, tensor: Tensor(shape: $0.shape, data: $0.buffer.array)) }
        try SafeTensors.write(path, tensors: tensors, metadata: [:])
    }

    func sample(_ m: PixArtModel) throws -> [Float] {
        let x = Tensor(shape: [1] + m.sampleShape, data: (0..<m.sampleSize).map { Float($0 % 7) / 7 - 0.4 })
        let cap = Tensor(
            shape: [1, 4, m.captionChannels],
            data: (0..<(4 * m.captionChannels)).map { Float($0 % 5) / 5 })
        let v: Tensor? = m.isRefiner ? x : nil
        return try m.forward(x: x, t: [0.4], caption: cap, mask: [1, 1, 0, 1], v: v).data
    }

    func testRoundTripWithMetadataReproducesOutputs() throws {
        let m = PixArtForwardTests.model(PixArtForwardTests.config(), seed: 21)
        let path = dir + "/m.safetensors"
        try m.weights.save(path)
        let back = try PixArtModel.load(path)
        XCTAssertEqual(back.config, m.config)
        XCTAssertEqual(try sample(back), try sample(m))
        XCTAssertTrue(try ModelLoader.load(path) is PixArtModel)
    }

    func testDerivesConfigFromOfficialShapes() throws {
        var cfg = PixArtForwardTests.config()
        cfg.depth = 3
        cfg.mlpHidden = 52
        let m = PixArtForwardTests.model(cfg, seed: 22)
        try saveBare(m, dir + "/p.safetensors")
        XCTAssertEqual(try PixArtModel.load(dir + "/p.safetensors", heads: 3).config, cfg)
        XCTAssertThrowsError(try PixArtModel.load(dir + "/p.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("heads"), "\(e)")
        }
        for sigma in [false, true] {
            let r = PixArtForwardTests.config(learnSigma: sigma, refiner: true, depth: 1)
            try saveBare(PixArtForwardTests.model(r, seed: 23), dir + "/r.safetensors")
            XCTAssertEqual(
                try PixArtModel.load(
                    dir + "/r.safetensors", heads: 3,
                    refiner: sigma ? true : nil
                ).config, r)
        }
    }

    func testMissingPosEmbedUsesDefaultSinCos() throws {
        let m = PixArtForwardTests.model(PixArtForwardTests.config(), seed: 24)
        try saveBare(m, dir + "/np.safetensors", dropping: "pos_embed")
        XCTAssertThrowsError(try PixArtModel.load(dir + "/np.safetensors", heads: 3))
        let back = try PixArtModel.load(dir + "/np.safetensors", heads: 3, inputSize: 8)
        XCTAssertEqual(back.config, m.config)
        XCTAssertEqual(try sample(back), try sample(m))
    }

    func testMalformedFileNamesTheTensor() throws {
        let m = PixArtForwardTests.model(PixArtForwardTests.config(), seed: 25)
        try saveBare(m, dir + "/bad.safetensors", dropping: "blocks.1.cross_attn.kv_linear.bias")
        XCTAssertThrowsError(try PixArtModel.load(dir + "/bad.safetensors", heads: 3)) { e in
            XCTAssertTrue("\(e)".contains("blocks.1.cross_attn.kv_linear.bias"), "\(e)")
        }
    }
}
