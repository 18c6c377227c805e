import FlowTensor
import XCTest

@testable import FlowModels

/// The whole SiT forward against the float64 reference with its products on oneDNN (when installed).
extension SiTForwardTests {
    func testForwardMatchesFloat64ReferenceOnOneDNN() throws {
        guard GemmLibrary.onednn.isAvailable else { throw XCTSkip("oneDNN (libdnnl.so.2) is not installed") }
        let saved = Gemm.library
        defer { try? Gemm.select(saved) }
        try Gemm.select(.onednn)
        let pred = SiTConfig(
            inputSize: 10, patchSize: 2, inChannels: 2, hiddenSize: 40, depth: 2, numHeads: 4,
            numClasses: 5, learnSigma: true, isRefiner: false)
        let ref = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 1, numHeads: 3,
            numClasses: 4, learnSigma: false, isRefiner: true)
        XCTAssertLessThan(try relativeError(makeModel(pred, seed: 41), rows: 3, seed: 42), 1e-5)
        XCTAssertLessThan(try relativeError(makeModel(ref, seed: 43), rows: 2, seed: 44), 1e-5)
    }
}
