import FlowTensor
import FlowText
import Foundation
import XCTest

@testable import FlowCluster

/// A worker's caption features: each prompt encoded once and alone (MiniLM, padded to L_max), rows in sample order.
/// Needs Models/minilm (Scripts/fetch-minilm.sh); skipped without it.
final class PromptCaptionsTests: XCTestCase {
    func testRowsAreTheEncoderFeaturesOfEachSamplesPromptEncodedOnce() throws {
        let dir = MiniLMEncoder.defaultDirectory
        for f in ["model.safetensors", "vocab.txt"] where !FileIO.exists(dir + "/" + f) {
            throw XCTSkip("\(dir)/\(f) is missing: run Scripts/fetch-minilm.sh (Scripts/install-deps.sh does)")
        }
        let encoder = try MiniLMEncoder.load(directory: dir)
        let captions = PromptCaptions(encoder: encoder, length: 12)
        let prompts = ["a red fox", "a red fox", "the quick brown fox jumps over the lazy dog twice", "a red fox"]
        let got = try captions.captions(for: prompts)
        XCTAssertEqual(captions.cachedCount, 2, "one encoding per distinct prompt")
        XCTAssertEqual(got.length, 12)
        XCTAssertEqual(got.features.count, 4 * 12 * 384)
        let row = 12 * 384
        for (i, p) in prompts.enumerated() {
            let want = try encoder.encode(prompts: [p], padTo: 12)
            XCTAssertTrue(Array(got.features[(i * row)..<((i + 1) * row)]) == want.features.data, "row \(i)")
            XCTAssertEqual(Array(got.mask[(i * 12)..<((i + 1) * 12)]), want.mask.data.map { Int32($0) }, "mask \(i)")
        }
        // Padding: "a red fox" is [CLS] a red fox [SEP] = 5 real tokens; the long prompt is truncated to 12.
        XCTAssertEqual(got.mask[0..<12].reduce(0, +), 5)
        XCTAssertEqual(got.mask[24..<36].reduce(0, +), 12)
        XCTAssertTrue(got.features[(5 * 384)..<row].allSatisfy { $0 == 0 }, "padding features are zero")
        // A full cache is emptied, then refilled.
        captions.maxCachedBytes = 12 * 384 * 4
        _ = try captions.captions(for: ["one", "two"])
        XCTAssertEqual(captions.cachedCount, 1)
    }
}
