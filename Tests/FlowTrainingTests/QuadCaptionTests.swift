import FlowTensor
import XCTest

@testable import FlowTraining

/// The quad-canvas caption grammar: every production parses to the intended slots (checked against hand-written
/// slot lists), generation and parsing round-trip over every spec and phrasing, and bad captions are refused.
final class QuadCaptionTests: XCTestCase {
    func slots(_ pairs: [Int: Int]) -> [Int?] { (0..<4).map { pairs[$0] } }

    func check(
        _ caption: String, _ category: QuadCategory, _ pairs: [Int: Int],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertNoThrow(
            try {
                let s = try QuadCaptionParser.parse(caption)
                XCTAssertEqual(s.category, category, caption, file: file, line: line)
                XCTAssertEqual(s.slots, self.slots(pairs), caption, file: file, line: line)
            }(), caption, file: file, line: line)
    }

    func testSingle() {
        check("a 7 in the top left", .single, [0: 7])
        check("seven at the top right", .single, [1: 7])
        check("An Eight in the Lower Left Corner", .single, [2: 8])
        check("the 3 at upper right corner", .single, [1: 3])
        check("0 in bottom right", .single, [3: 0])
        check("  ZERO   IN THE BOTTOM RIGHT.  ", .single, [3: 0])
        check("one in the top left", .single, [0: 1])
    }

    func testTwoColumnRow() {
        check("a 1 in the top left and a 2 in the bottom right", .two, [0: 1, 3: 2])
        check("a nine in the lower right corner and an eight in the upper left", .two, [3: 9, 0: 8])
        check("3 above 5 on the left", .column, [0: 3, 2: 5])
        check("a three above the five on right", .column, [1: 3, 3: 5])
        check("6 next to 4 on the top row", .row, [0: 6, 1: 4])
        check("six next to four on the lower row", .row, [2: 6, 3: 4])
        check("a 2 next to a 2 on the upper row", .row, [0: 2, 1: 2])
    }

    func testCountAndEmpty() throws {
        for (text, n, d) in [
            ("one 7", 1, 7), ("two sevens", 2, 7), ("three sixes", 3, 6), ("four 7s", 4, 7),
            ("Two 6's", 2, 6), ("three zeroes", 3, 0), ("two twos", 2, 2), ("one one", 1, 1),
            ("four ones", 4, 1),
        ] {
            let s = try QuadCaptionParser.parse(text)
            XCTAssertEqual(s.category, .count, text)
            XCTAssertEqual(s.count, n, text)
            XCTAssertEqual(s.countDigit, d, text)
            XCTAssertEqual(s.slots, [nil, nil, nil, nil], text)
        }
        for text in ["an empty canvas", "Nothing", "empty canvas", "the empty canvas"] {
            XCTAssertEqual(try QuadCaptionParser.parse(text).category, .empty, text)
        }
    }

    func testRefusals() {
        for bad in [
            "", "a 7", "a 7 in the middle", "a 7 in the top", "a 12 in the top left",
            "seventeen in the top left",
            "a 7 in the top left and a 3 in the top left", "a 7 in the top left and", "five sevens",
            "two seven", "one sevens", "3 above 5 on the top", "6 next to 4 on the left row",
            "a 7 in the top left corner corner", "empty", "nothing at all", "a cat in the top left",
            "3 above 5", "two 17s",
        ] {
            XCTAssertThrowsError(try QuadCaptionParser.parse(bad), "'\(bad)' should be refused")
        }
    }

    func testGenerationRoundTripsEverySpecAndPhrasing() throws {
        // every spec in 12 phrasings (a different 12 per spec), so all 192 phrasings are covered in every category
        var captions = Set<String>()
        var bad: [String] = []
        let all = QuadPhrasing.all
        for cat in QuadCategory.allCases {
            for (si, spec) in QuadCaption.specs(cat).enumerated() {
                for j in 0..<12 {
                    let text = QuadCaption.caption(for: spec, phrasing: all[(si * 12 + j * 17) % all.count])
                    captions.insert(text)
                    let upper = j % 2 == 0 ? text.uppercased() : text
                    if (try? QuadCaptionParser.parse(upper)) != spec { bad.append(upper) }
                }
            }
        }
        XCTAssertEqual(bad, [])
        // the phrasings named by the issue all occur
        for w in ["upper", "lower", "corner", "sixes", "7s", "an eight", "at the", "nothing", "an empty canvas"] {
            XCTAssertTrue(captions.contains { $0.contains(w) }, w)
        }
        XCTAssertEqual(QuadCaption.specs(.two).count, 600)
        XCTAssertEqual(QuadCaption.specs(.count).count, 40)
    }

    func testSatisfaction() throws {
        let s = try QuadCaptionParser.parse("two sevens")
        XCTAssertTrue(s.isSatisfied(by: [7, nil, nil, 7]))
        XCTAssertFalse(s.isSatisfied(by: [7, nil, 1, 7]))
        XCTAssertFalse(s.isSatisfied(by: [7, nil, nil, nil]))
        let t = try QuadCaptionParser.parse("3 above 5 on the right")
        XCTAssertTrue(t.isSatisfied(by: [nil, 3, nil, 5]))
        XCTAssertFalse(t.isSatisfied(by: [3, nil, 5, nil]))
    }

    func testPoolIsBalanced() {
        let pool = QuadCaptionPool(seed: 0)
        XCTAssertEqual(Set(pool.captions).count, pool.entries.count)
        XCTAssertEqual(pool.byCategory.count, QuadCategory.allCases.count)
        for e in pool.entries { XCTAssertEqual(try QuadCaptionParser.parse(e.caption), e.spec) }
        // single: every (slot, digit) has the same number of phrasings
        var perSpec: [QuadSpec: Int] = [:]
        for i in pool.byCategory[0] { perSpec[pool.entries[i].spec, default: 0] += 1 }
        XCTAssertEqual(perSpec.count, 40)
        XCTAssertEqual(Set(perSpec.values), [24])
        // draws: categories uniform within 4 standard deviations
        var rng = SeededRandom(seed: 3)
        var hist = [Int](repeating: 0, count: 6)
        let n = 60000
        for _ in 0..<n { hist[QuadCategory.allCases.firstIndex(of: pool.entries[pool.draw(&rng)].spec.category)!] += 1 }
        let sd = (Double(n) * (1.0 / 6) * (5.0 / 6)).squareRoot()
        for h in hist { XCTAssertLessThan(abs(Double(h) - Double(n) / 6), 4 * sd) }
    }
}
