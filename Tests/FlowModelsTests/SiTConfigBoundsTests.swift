import FlowTensor
import XCTest

@testable import FlowModels

/// Model configuration fields from files are untrusted: out-of-bounds values are one-line errors, and a
/// metadata depth that disagrees with the file's blocks is refused instead of silently dropping blocks.
final class SiTConfigBoundsTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "sit-bounds-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    let base = SiTConfig(
        inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 16, depth: 2, numHeads: 2,
        numClasses: 3, learnSigma: false, isRefiner: false)

    func testAbsurdFieldsAreErrorsNotTraps() {
        var cases: [(String, SiTConfig)] = []
        var c = base
        c.inputSize = 1 << 40
        cases.append(("inputSize", c))
        c = base
        c.mlpHidden = 1 << 40
        cases.append(("mlpHidden", c))
        c = base
        c.depth = 1_000_000_000
        cases.append(("depth", c))
        c = base
        c.hiddenSize = Int.max
        cases.append(("hiddenSize", c))
        c = base
        c.numClasses = -1
        cases.append(("numClasses", c))
        c = base
        c.frequencyEmbeddingSize = 1 << 40
        cases.append(("frequencyEmbeddingSize", c))
        c = base
        c.inputSize = 8192
        c.patchSize = 1
        cases.append(("tokens", c))
        for (field, cfg) in cases {
            XCTAssertThrowsError(try cfg.validate(source: "m.safetensors"), field) { e in
                XCTAssertTrue("\(e)".contains("m.safetensors") && "\(e)".contains(field), "\(e)")
                XCTAssertFalse("\(e)".contains("\n"))
            }
        }
        XCTAssertNoThrow(try base.validate(source: "m.safetensors"))
    }

    func testMetadataDepthMustMatchTheFilesBlocks() throws {
        let w = SiTWeights(config: base)
        w.randomize(seed: 3, std: 0.1)
        let tensors = w.named.map { ($0.name, Tensor(shape: $0.shape, data: $0.buffer.array)) }
        var shallow = base
        shallow.depth = 0
        try SafeTensors.write(dir + "/d0.safetensors", tensors: tensors, metadata: shallow.metadata)
        XCTAssertThrowsError(try SiTModel.load(dir + "/d0.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("depth 0") && "\(e)".contains("0..<2"), "\(e)")
        }
        try SafeTensors.write(dir + "/ok.safetensors", tensors: tensors, metadata: base.metadata)
        XCTAssertEqual(try SiTModel.load(dir + "/ok.safetensors").config, base)
    }
}
