import FlowTensor
import Foundation
import XCTest

@testable import FlowTraining

/// Slot extraction, and the calibration the issue quotes: real MNIST-test digits composed per prompt score ≥ 0.95
/// with the shipped slot classifier.
final class SlotClassifierTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testSlotsAreTheFourQuadrantsInReadingOrder() throws {
        let n = 2
        let canvases = (0..<(n * 1024)).map { Float($0) }
        let (x, finite) = try SlotClassifier.slots(of: canvases, count: n)
        XCTAssertEqual(finite, [true, true])
        for i in 0..<n {
            for s in 0..<4 {
                for r in 0..<16 {
                    for c in 0..<16 {
                        let row = (s >= 2 ? 16 : 0) + r
                        let col = (s % 2 == 1 ? 16 : 0) + c
                        XCTAssertEqual(x[((i * 4 + s) * 16 + r) * 16 + c], Float(i * 1024 + row * 32 + col))
                    }
                }
            }
        }
    }

    func testNonFiniteCanvasIsUnreadable() throws {
        var canvases = [Float](repeating: -1, count: 2 * 1024)
        canvases[1024 + 700] = .nan
        let model = DigitClassifier(widths: [256, 8, 4, 11], seed: 1)
        let p = try SlotClassifier(model: model).predictSlots(canvases, count: 2)
        XCTAssertEqual(p[1], [Int?](repeating: SlotClassifier.unreadable, count: 4))
        XCTAssertFalse(p[0].contains(SlotClassifier.unreadable))
        XCTAssertThrowsError(try SlotClassifier(model: DigitClassifier(widths: [784, 8, 10])))
    }

    func shipped() throws -> SlotClassifier {
        let path = Self.repo.appendingPathComponent("Models/" + SlotClassifier.fileName).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("Models/\(SlotClassifier.fileName) missing")
        }
        return try SlotClassifier.load(path)
    }

    /// Canvases composed independently in numpy (Scripts/make_quad_adherence_fixture.py) from MNIST test.
    func testShippedClassifierPassesIndependentMNISTTestCanvases() throws {
        let clf = try shipped()
        let dir = Self.repo.appendingPathComponent("Tests/Fixtures/quad-adherence").path
        let prompts = try String(contentsOfFile: dir + "/prompts.txt", encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let a = try NPY.read(dir + "/canvases.npy")
        XCTAssertEqual(a.shape, [prompts.count, 1, 32, 32])
        let canvases = a.bytes.map { Float($0) / 127.5 - 1 }
        let specs = try XCTUnwrap(PromptAdherence.specs(prompts))
        let score = PromptAdherence(specs: specs, predicted: try clf.predictSlots(canvases, count: prompts.count))
        print("fixture adherence \(score.overall) \(score.byCategory)")
        XCTAssertGreaterThanOrEqual(score.overall, 0.95)
        for (c, f) in score.byCategory { XCTAssertGreaterThanOrEqual(f, 0.85, c) }
    }

    /// The same with the project's own composer on the full MNIST test split (skipped without data/mnist).
    func testShippedClassifierPassesComposedReferences() throws {
        let clf = try shipped()
        let data = Self.repo.appendingPathComponent("data/mnist").path
        guard FileManager.default.fileExists(atPath: data + "/t10k-images-idx3-ubyte.gz") else {
            throw XCTSkip("data/mnist missing (Scripts/fetch-mnist.sh)")
        }
        let composer = try QuadComposer(data: try MNISTData.load(directory: data, split: "t10k"))
        let file = Self.repo.appendingPathComponent("Tests/Fixtures/quad-adherence/prompts.txt").path
        let prompts = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let specs = QuadReference.sampleSpecs(try XCTUnwrap(PromptAdherence.specs(prompts)), imagesPerPrompt: 2)
        let canvases = QuadReference.canvases(composer, specs: specs, seed: 3)
        let score = PromptAdherence(specs: specs, predicted: try clf.predictSlots(canvases, count: specs.count))
        print("composed adherence \(score.overall) \(score.byCategory)")
        XCTAssertGreaterThanOrEqual(score.overall, 0.95)
    }
}
