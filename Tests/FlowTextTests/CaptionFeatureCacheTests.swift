import FlowTensor
import FlowText
import Foundation
import XCTest

/// The caption feature cache: rows equal a direct MiniLM encode, a second load encodes nothing, a new caption is
/// the only one encoded, and another digest or length invalidates the file.
final class CaptionFeatureCacheTests: XCTestCase {
    func testCacheReusesRowsAndMatchesDirectEncoding() throws {
        try TextFixtures.skipUnlessEncoder()
        let enc = try MiniLMEncoder.load(directory: TextFixtures.encoderDirectory)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ft-capcache-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/captions.safetensors"
        let caps = [
            "a 7 in the top left", "two sevens", "an eight in the lower right corner and a 1 in the upper left",
        ]
        var logs: [String] = []
        let t1 = try CaptionFeatureCache.load(captions: caps, length: 20, encoder: enc, digest: "d1", path: path) {
            logs.append($0)
        }
        XCTAssertEqual(logs.count, 1)
        let direct = try enc.encode(prompts: caps, padTo: 20)
        XCTAssertTrue(t1.features == direct.features.data, "cached rows differ from a direct encode")
        XCTAssertEqual(t1.mask, direct.mask.data.map { Int32($0) })
        XCTAssertEqual(t1.tokens(2), direct.tokenIDs[2].count)
        // reordered + one new caption: only the new one is encoded, the rest come from the file
        logs = []
        let caps2 = ["two sevens", "nothing", "a 7 in the top left"]
        let t2 = try CaptionFeatureCache.load(captions: caps2, length: 20, encoder: enc, digest: "d1", path: path) {
            logs.append($0)
        }
        XCTAssertEqual(logs, ["encoding 1 captions with MiniLM (3 cached)"])
        let direct2 = try enc.encode(prompts: caps2, padTo: 20)
        // a different batch may round differently in BLAS: compare to 1e-5 of the feature scale
        XCTAssertEqual(t2.mask, direct2.mask.data.map { Int32($0) })
        let diff = zip(t2.features, direct2.features.data).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(diff, 1e-4)
        // the reused rows are the file's bits: row 0 of t2 is row 1 of t1
        XCTAssertTrue(t2.features[0..<(20 * 384)] == t1.features[(20 * 384)..<(40 * 384)])
        logs = []
        _ = try CaptionFeatureCache.load(
            captions: caps + ["nothing"], length: 20, encoder: enc, digest: "d1",
            path: path
        ) { logs.append($0) }
        XCTAssertEqual(logs, [])
        // another encoder digest re-encodes
        _ = try CaptionFeatureCache.load(captions: caps2, length: 20, encoder: enc, digest: "d2", path: path) {
            logs.append($0)
        }
        XCTAssertEqual(logs.count, 2)
        // too long for the length: one-line error naming the caption
        XCTAssertThrowsError(
            try CaptionFeatureCache.load(
                captions: [caps[2]], length: 8, encoder: enc, digest: "d1",
                path: dir + "/short.safetensors")
        ) { e in
            XCTAssertTrue("\(e)".contains("lower right corner"), "\(e)")
        }
    }
}
