import Foundation
import XCTest

@testable import FlowTraining

/// The shipped prompt files (Examples/prompts-quad.txt, Examples/prompts-quad-heldout.txt) are in the quad-canvas
/// grammar line by line and cover every category; the held-out file's overlap with the training caption pool is
/// reported (the pool samples the grammar's phrasings, it does not enumerate them).
final class QuadPromptFileTests: XCTestCase {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples")

    static func lines(_ name: String) throws -> [String] {
        let text = try String(contentsOf: examples.appendingPathComponent(name), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    func categories(_ name: String) throws -> [QuadCategory: Int] {
        var n: [QuadCategory: Int] = [:]
        for line in try Self.lines(name) {
            do {
                n[try QuadCaptionParser.parse(line).category, default: 0] += 1
            } catch {
                XCTFail("\(name): '\(line)' does not parse: \(error)")
            }
        }
        return n
    }

    func testExamplePromptsParseAndCoverEveryCategory() throws {
        let n = try categories("prompts-quad.txt")
        XCTAssertEqual(try Self.lines("prompts-quad.txt").count, 24)
        for c in QuadCategory.allCases { XCTAssertEqual(n[c], 4, "\(c) prompts in prompts-quad.txt") }
    }

    func testHeldOutPromptsParseWithTwentyPerCategory() throws {
        let lines = try Self.lines("prompts-quad-heldout.txt")
        XCTAssertEqual(lines.count, 120)
        XCTAssertEqual(Set(lines).count, lines.count, "held-out prompts repeat")
        let n = try categories("prompts-quad-heldout.txt")
        for c in QuadCategory.allCases { XCTAssertEqual(n[c], 20, "\(c) prompts in prompts-quad-heldout.txt") }
        // Report the overlap with the training pool (seed 0): exact strings, and after the normalisation MiniLM's
        // uncased tokenizer applies anyway (lower case); a final '.' is a token of its own, so it is kept.
        let pool = Set(QuadCaptionPool(seed: 0).captions)
        let exact = lines.filter { pool.contains($0) }.count
        let lower = lines.filter { pool.contains($0.lowercased()) }.count
        var grammar = 0
        for c in QuadCategory.allCases {
            for spec in QuadCaption.specs(c) { grammar += QuadCaption.captions(for: spec).count }
        }
        print(
            "held-out prompts in the training pool: \(exact) of \(lines.count) exact, \(lower) ignoring case; "
                + "pool \(pool.count) of \(grammar) generator captions (lower case, no period, no 7's/zeroes)")
        XCTAssertLessThan(pool.count, grammar, "the pool samples the grammar")
    }
}
