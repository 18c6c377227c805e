import FlowTensor
import XCTest

@testable import FlowTraining

/// The GenEval-style rule per category, on hand-made slot predictions (nil = empty slot).
final class PromptAdherenceTests: XCTestCase {
    func spec(_ s: String) throws -> QuadSpec { try QuadCaptionParser.parse(s) }

    func check(
        _ caption: String, right: [[Int?]], wrong: [[Int?]], file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let s = try spec(caption)
        for p in right {
            XCTAssertTrue(PromptAdherence.isCorrect(s, predicted: p), "\(caption): \(p)", file: file, line: line)
        }
        for p in wrong {
            XCTAssertFalse(PromptAdherence.isCorrect(s, predicted: p), "\(caption): \(p)", file: file, line: line)
        }
    }

    func testSingle() throws {
        try check(
            "a 7 in the top left", right: [[7, nil, nil, nil]],
            wrong: [
                [nil, 7, nil, nil], [1, nil, nil, nil], [7, nil, nil, 3], [7, 7, nil, nil],
                [nil, nil, nil, nil],
            ])
        try check("seven at the lower right corner", right: [[nil, nil, nil, 7]], wrong: [[nil, nil, 7, nil]])
    }

    func testTwo() throws {
        try check(
            "a 3 in the top right and a 5 in the bottom left", right: [[nil, 3, 5, nil]],
            wrong: [[nil, 5, 3, nil], [nil, 3, nil, nil], [nil, 3, 5, 5], [3, nil, nil, 5]])
    }

    func testColumn() throws {
        try check(
            "a 2 above a 9 on the left", right: [[2, nil, 9, nil]],
            wrong: [[9, nil, 2, nil], [nil, 2, nil, 9], [2, 9, nil, nil], [2, nil, 9, 1]])
    }

    func testRow() throws {
        try check(
            "a 4 next to a 1 on the bottom row", right: [[nil, nil, 4, 1]],
            wrong: [[nil, nil, 1, 4], [4, 1, nil, nil], [nil, 0, 4, 1]])
    }

    func testCountAnyPlacementExactlyThatMany() throws {
        var right: [[Int?]] = []
        for empty in 0..<4 { right.append((0..<4).map { $0 == empty ? nil : 7 }) }
        try check(
            "three sevens", right: right,
            wrong: [[7, 7, nil, nil], [7, 7, 7, 7], [7, 7, 7, 1], [1, 1, 1, nil]])
        try check(
            "one 0", right: [[nil, nil, 0, nil], [0, nil, nil, nil]],
            wrong: [[0, 0, nil, nil], [nil, nil, nil, nil]])
        try check("four 6s", right: [[6, 6, 6, 6]], wrong: [[6, 6, 6, nil]])
    }

    func testEmpty() throws {
        try check("an empty canvas", right: [[nil, nil, nil, nil]], wrong: [[nil, nil, nil, 1], [0, nil, nil, nil]])
        try check("nothing", right: [[nil, nil, nil, nil]], wrong: [[8, 8, 8, 8]])
    }

    func testUnreadableCanvasIsNeverCorrect() throws {
        let u = [Int?](repeating: SlotClassifier.unreadable, count: 4)
        for c in ["a 1 in the top left", "two 1s", "nothing", "a 1 above a 1 on the right"] {
            XCTAssertFalse(PromptAdherence.isCorrect(try spec(c), predicted: u), c)
        }
    }

    /// Fractions against an independent count with the rules written out per category.
    func testFractionsMatchNaiveCount() throws {
        var rng = SeededRandom(seed: 5)
        let captions = [
            "a 1 in the top left", "a 2 in the top right and a 3 in the bottom right",
            "a 4 above a 5 on the right", "a 6 next to a 7 on the top row", "two 8s", "nothing",
        ]
        let wanted: [[Int?]] = [[1, nil, nil, nil], [nil, 2, nil, 3], [nil, 4, nil, 5], [6, 7, nil, nil]]
        var specs: [QuadSpec] = []
        var preds: [[Int?]] = []
        var cat: [String] = []
        var ok: [Bool] = []
        for i in 0..<600 {
            let k = i % captions.count
            specs.append(try spec(captions[k]))
            // Mostly the right answer, sometimes one slot replaced by a random digit or emptied.
            var p: [Int?] = k < 4 ? wanted[k] : (k == 4 ? [8, nil, 8, nil] : [nil, nil, nil, nil])
            if rng.uniform() < 0.4 {
                let s = Int(rng.next() % 4)
                let v = Int(rng.next() % 11)
                p[s] = v == 10 ? nil : v
            }
            preds.append(p)
            cat.append(["single", "two", "column", "row", "count", "empty"][k])
            let eights = p.filter { $0 == 8 }.count
            let nonEmpty = p.filter { $0 != nil }.count
            ok.append(k < 4 ? p == wanted[k] : (k == 4 ? eights == 2 && nonEmpty == 2 : nonEmpty == 0))
        }
        let a = PromptAdherence(specs: specs, predicted: preds)
        XCTAssertEqual(a.samples, 600)
        XCTAssertEqual(a.overall, Double(ok.filter { $0 }.count) / 600, accuracy: 1e-15)
        for c in Set(cat) {
            let idx = cat.indices.filter { cat[$0] == c }
            let expect = Double(idx.filter { ok[$0] }.count) / Double(idx.count)
            XCTAssertEqual(a.byCategory[c] ?? -1, expect, accuracy: 1e-15, c)
        }
        XCTAssertLessThan(a.overall, 1)
        let json = a.json
        XCTAssertEqual(Set(json.keys), ["overall", "by_category", "samples"])
        XCTAssertEqual(
            Set((json["by_category"] as? [String: Double])?.keys.map { $0 } ?? []),
            ["single", "two", "column", "row", "count", "empty"])
    }

    func testSpecsNilWhenAnyPromptIsOutsideTheGrammar() {
        XCTAssertNotNil(PromptAdherence.specs(["a 1 in the top left", "nothing"]))
        XCTAssertNil(PromptAdherence.specs(["a 1 in the top left", "a photo of a cat"]))
    }
}
