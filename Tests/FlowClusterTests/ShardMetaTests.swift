import FlowProto
import Foundation
import XCTest

@testable import FlowCluster

/// The per-shard timings JSON, written by a direct encoder: Foundation's parser must read back exactly the values
/// (doubles bit for bit, worker ids with quotes, backslashes, control characters and non-ASCII text), with keys in
/// sorted order as `JSONSerialization` with `.sortedKeys` wrote them.
final class ShardMetaTests: XCTestCase {
    func result(worker: String) -> Flowturbo_V1_ShardResult {
        var rng = SystemRandomNumberGenerator()
        var r = Flowturbo_V1_ShardResult()
        r.workerID = worker
        r.nfe = (0..<5).map { _ in UInt32.random(in: 0...400, using: &rng) }
        // Seconds across magnitudes, including values whose shortest form uses an exponent.
        r.batchSeconds = [0, 1e-7, 0.1, 3, 123_456.789] + (0..<20).map { _ in Double.random(in: 0...1e5) }
        r.timings.predictorSeconds = 1.0 / 3.0
        r.timings.refinerSeconds = 2.5e-5
        r.timings.solverSeconds = 0
        r.timings.totalSeconds = Double.random(in: 0...7 * 86_400)
        r.timings.textEncoderSeconds = 0.004
        return r
    }

    func testFoundationReadsBackEveryValueExactly() throws {
        let workers = ["w-0", "quote\" back\\slash", "tab\tnl\nnul\u{0}bell\u{7}", "ünï 工作 🚀", "/slash", ""]
        for (i, w) in workers.enumerated() {
            let r = result(worker: w)
            let bytes = ShardMeta.encode(r, shard: 7 + i, first: 112, count: 5)
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            XCTAssertEqual(obj["worker"] as? String, w)
            XCTAssertEqual(obj["shard"] as? Int, 7 + i)
            XCTAssertEqual(obj["first"] as? Int, 112)
            XCTAssertEqual(obj["count"] as? Int, 5)
            XCTAssertEqual(obj["nfe"] as? [Int], r.nfe.map { Int($0) })
            // Foundation's parser is itself off by a few ulp on some 17-digit numbers: values within 1e-15 there,
            // and bit for bit through the standard library's correctly rounded `Double(String)`.
            let batch = try XCTUnwrap(obj["batch_seconds"] as? [Any]).compactMap { ($0 as? NSNumber)?.doubleValue }
            XCTAssertEqual(batch.count, r.batchSeconds.count)
            for (a, b) in zip(batch, r.batchSeconds) { XCTAssertEqual(a, b, accuracy: 1e-15 * max(1, b)) }
            let text = String(decoding: bytes, as: UTF8.self)
            XCTAssertEqual(numbers(text, "batch_seconds").map { $0.bitPattern }, r.batchSeconds.map { $0.bitPattern })
            let stages: [(String, Double)] = [
                ("predictor_seconds", r.timings.predictorSeconds), ("refiner_seconds", r.timings.refinerSeconds),
                ("solver_seconds", r.timings.solverSeconds), ("total_seconds", r.timings.totalSeconds),
                ("text_encoder_seconds", r.timings.textEncoderSeconds),
            ]
            for (k, v) in stages {
                XCTAssertEqual((obj[k] as? NSNumber)?.doubleValue ?? -1, v, accuracy: 1e-15 * max(1, v), k)
                XCTAssertEqual(numbers(text, k).map { $0.bitPattern }, [v.bitPattern], k)
            }
            XCTAssertEqual(obj.count, 11)
        }
    }

    /// The numbers of key `key` (a number or an array of numbers) in compact JSON `text`, parsed by `Double(String)`.
    func numbers(_ text: String, _ key: String) -> [Double] {
        guard let r = text.range(of: "\"\(key)\":") else { return [] }
        let rest = text[r.upperBound...]
        let end =
            rest.firstIndex(where: { $0 == "]" || $0 == "}" || ($0 == "," && rest.first != "[") }) ?? rest.endIndex
        return rest[..<end].trimmingCharacters(in: CharacterSet(charactersIn: "[")).split(separator: ",")
            .compactMap { Double(String($0)) }
    }

    func testKeysAreSortedLikeJSONSerialization() throws {
        let r = result(worker: "w")
        let text = String(decoding: ShardMeta.encode(r, shard: 0, first: 0, count: 5), as: UTF8.self)
        let keys = try NSRegularExpression(pattern: "\"([a-z_]+)\":").matches(
            in: text, range: NSRange(text.startIndex..., in: text)
        ).map { String(text[Range($0.range(at: 1), in: text)!]) }
        XCTAssertEqual(keys, keys.sorted())
        XCTAssertEqual(keys.count, 11)
        XCTAssertFalse(text.contains(" "), "compact, as before")
    }
}
