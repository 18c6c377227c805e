import FlowModels
import FlowTensor
import Foundation
import XCTest

/// The one defaults rule every command uses: flags, else the model's `flowturbo.recommended` metadata, else built-ins.
final class ModelDefaultsTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "flowturbo-defaults-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A tiny safetensors file with the given metadata (tensor content does not matter for the rule).
    func writeModel(_ name: String, metadata: [String: String]) throws -> String {
        let path = dir + "/" + name
        try SafeTensors.write(path, tensors: [(name: "w", tensor: Tensor(shape: [1], data: [0]))], metadata: metadata)
        return path
    }

    func recommended(refiner: String?) -> [String: String] {
        let rec = Recommendation(
            plan: "H1P5R3", refinerStep: "euler", guidance: 1.5, refiner: refiner,
            planWithoutRefiner: "H6")
        let json = String(decoding: try! JSONEncoder().encode(rec), as: UTF8.self)
        return [Recommendation.metadataKey: json]
    }

    func testMetadataFillsEveryMissingFlag() throws {
        let model = try writeModel("m.safetensors", metadata: recommended(refiner: "r.safetensors"))
        let ref = try writeModel("r.safetensors", metadata: [:])
        let r = try ModelDefaults.resolve(model: model, refiner: nil, plan: nil, refinerStep: nil, guidance: nil)
        XCTAssertEqual(r.refiner, ref)
        XCTAssertEqual(r.plan, "H1P5R3")
        XCTAssertEqual(r.refinerStep, "euler")
        XCTAssertEqual(r.guidance, 1.5)
        XCTAssertTrue(r.source.contains("metadata"))
    }

    func testFlagsWinOverMetadata() throws {
        let model = try writeModel("m.safetensors", metadata: recommended(refiner: "r.safetensors"))
        _ = try writeModel("r.safetensors", metadata: [:])
        let r = try ModelDefaults.resolve(model: model, refiner: nil, plan: "H8", refinerStep: "heun", guidance: 4)
        XCTAssertEqual(r.plan, "H8")
        XCTAssertEqual(r.refinerStep, "heun")
        XCTAssertEqual(r.guidance, 4)
    }

    func testNoRefinerFallsBackToThePlanWithoutRefiner() throws {
        // Recommended refiner file missing, or disabled with `none`: the plan must not need a refiner.
        let model = try writeModel("m.safetensors", metadata: recommended(refiner: "missing.safetensors"))
        let missing = try ModelDefaults.resolve(model: model, refiner: nil, plan: nil, refinerStep: nil, guidance: nil)
        XCTAssertNil(missing.refiner)
        XCTAssertEqual(missing.plan, "H6")
        _ = try writeModel("missing.safetensors", metadata: [:])
        let off = try ModelDefaults.resolve(model: model, refiner: "none", plan: nil, refinerStep: nil, guidance: nil)
        XCTAssertNil(off.refiner)
        XCTAssertEqual(off.plan, "H6")
        XCTAssertEqual(off.guidance, 1.5)
    }

    func testModelWithoutRecommendationUsesBuiltIns() throws {
        let model = try writeModel("plain.safetensors", metadata: [:])
        let r = try ModelDefaults.resolve(model: model, refiner: nil, plan: nil, refinerStep: nil, guidance: nil)
        XCTAssertEqual(
            r,
            ResolvedSampling(
                model: model, refiner: nil, plan: "H8", refinerStep: "heun", guidance: 1,
                source: "built-in"))
        let withRef = try ModelDefaults.resolve(
            model: model, refiner: "x.safetensors", plan: nil, refinerStep: nil,
            guidance: nil)
        XCTAssertEqual(withRef.plan, "H2P4R2")
        let preset = try ModelDefaults.resolve(
            model: "gmm:mnist", refiner: nil, plan: nil, refinerStep: nil, guidance: nil)
        XCTAssertEqual(preset.plan, "H8")
        XCTAssertNil(preset.refiner)
    }

    /// An explicit --refiner for a model whose recommendation has no refiner (the text model's provisional H8):
    /// the plan must use it (built-in H2P4R2), while the guidance still comes from the metadata.
    func testExplicitRefinerIsUsedWhenTheRecommendationHasNone() throws {
        let rec = Recommendation(plan: "H8", refinerStep: "euler", guidance: 3, refiner: nil, planWithoutRefiner: "H8")
        let json = String(decoding: try JSONEncoder().encode(rec), as: UTF8.self)
        let model = try writeModel("t2i.safetensors", metadata: [Recommendation.metadataKey: json])
        for text in [false, true] {
            let r = try ModelDefaults.resolve(
                model: model, refiner: "r.safetensors", plan: nil, refinerStep: nil,
                guidance: nil, text: text)
            XCTAssertEqual(r.refiner, "r.safetensors")
            XCTAssertEqual(r.plan, "H2P4R2")
            XCTAssertEqual(r.guidance, 3)
            XCTAssertEqual(r.refinerStep, "euler")
        }
        // A recommended refiner plan stays the default for any explicit refiner file.
        let withRec = try writeModel("m.safetensors", metadata: recommended(refiner: nil))
        let r = try ModelDefaults.resolve(
            model: withRec, refiner: "other.safetensors", plan: nil, refinerStep: nil,
            guidance: nil)
        XCTAssertEqual(r.plan, "H1P5R3")
    }

    func testMalformedRecommendationIsAnError() throws {
        let model = try writeModel("bad.safetensors", metadata: [Recommendation.metadataKey: "{\"plan\": 3}"])
        XCTAssertThrowsError(
            try ModelDefaults.resolve(
                model: model, refiner: nil, plan: nil, refinerStep: nil,
                guidance: nil)
        ) { e in
            XCTAssertTrue("\(e)".contains("flowturbo.recommended"), "\(e)")
        }
    }

    /// The shipped predictor recommends a FlowTurbo plan with the shipped refiner (the main job's default).
    func testShippedPredictorRecommendsFlowTurbo() throws {
        let sit = ModelDefaults.shipped("sit-mnist.safetensors")
        try XCTSkipUnless(FileIO.exists(sit), "no shipped model at \(sit)")
        let r = try ModelDefaults.resolve(model: nil, refiner: nil, plan: nil, refinerStep: nil, guidance: nil)
        XCTAssertEqual(r.model, sit)
        XCTAssertEqual(r.refiner, ModelDefaults.shipped("refiner-mnist.safetensors"))
        XCTAssertTrue(r.plan.contains("R"), r.plan)
    }

    /// Prompt runs default to the shipped text-to-image model and its recommendation.
    func testPromptRunsDefaultToTheShippedTextModel() throws {
        let t2i = ModelDefaults.shipped("pixart-quad.safetensors")
        try XCTSkipUnless(FileIO.exists(t2i), "no shipped text-to-image model at \(t2i)")
        let r = try ModelDefaults.resolve(
            model: nil, refiner: nil, plan: nil, refinerStep: nil, guidance: nil, text: true)
        XCTAssertEqual(r.model, t2i)
        let rec = try XCTUnwrap(try Recommendation.read(t2i))
        XCTAssertEqual(r.guidance, rec.guidance)
        XCTAssertEqual(r.plan, r.refiner == nil ? (rec.planWithoutRefiner ?? "H8") : rec.plan)
    }
}
