import FlowTensor
import XCTest

@testable import FlowModels

/// The whole SiT forward (predictor and refiner) against the float64 reference with the elementwise kernels of every
/// instruction-set family this CPU runs, at the same tolerance as the default family.
extension SiTForwardTests {
    func testForwardMatchesFloat64ReferenceInEveryKernelFamily() throws {
        let saved = ElementwiseKernels.active
        defer { ElementwiseKernels.select(saved) }
        // hidden 40 = two 16-lane vectors + a tail of 8; 5 tokens per head block.
        let pred = SiTConfig(
            inputSize: 10, patchSize: 2, inChannels: 2, hiddenSize: 40, depth: 2, numHeads: 4,
            numClasses: 5, learnSigma: true, isRefiner: false)
        let ref = SiTConfig(
            inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 24, depth: 1, numHeads: 3,
            numClasses: 4, learnSigma: false, isRefiner: true)
        for family in ElementwiseKernels.supported {
            XCTAssertTrue(ElementwiseKernels.select(family))
            XCTAssertLessThan(try relativeError(makeModel(pred, seed: 31), rows: 3, seed: 32), 1e-5, "\(family)")
            XCTAssertLessThan(try relativeError(makeModel(ref, seed: 33), rows: 2, seed: 34), 1e-5, "\(family)")
        }
    }
}
