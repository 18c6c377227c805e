import FlowTensor
import XCTest

@testable import FlowTraining

/// Weighted caption-category draws: all weights 1 is exactly the old uniform draw (so a running training resumes
/// bit-identically), weighted frequencies match weight/total, a zero weight never draws, and the flag parses.
final class QuadCategoryWeightsTests: XCTestCase {
    static let pool = QuadCaptionPool()

    /// The draw before category weights existed, written out independently.
    static func oldDraw(_ pool: QuadCaptionPool, _ rng: inout SeededRandom) -> Int {
        let c = pool.byCategory[Int(rng.next() % 6)]
        return c[Int(rng.next() % UInt64(c.count))]
    }

    func testAllOnesIsTheOldUniformDraw() throws {
        let pool = Self.pool
        XCTAssertEqual(pool.byCategory.count, 6)
        let parsed = try QuadCategoryWeights(parsing: "single=1,two=1,column=1,row=1,count=1,empty=1")
        let partial = try QuadCategoryWeights(parsing: "two=1")
        for w in [QuadCategoryWeights.uniform, parsed, partial] {
            for seed: UInt64 in [0, 7, 12345] {
                var a = SeededRandom(seed: seed)
                var b = SeededRandom(seed: seed)
                for i in 0..<20_000 {
                    let new = pool.draw(&a, weights: w)
                    let old = Self.oldDraw(pool, &b)
                    guard new == old else { return XCTFail("draw \(i) (seed \(seed)): \(new) ≠ old \(old)") }
                }
                XCTAssertEqual(a.next(), b.next(), "the weighted draw must use the same number of rng calls")
            }
        }
        // and through the trainer's per-step generator
        var a = stepRandom(seed: 3, step: 7000)
        var b = stepRandom(seed: 3, step: 7000)
        for _ in 0..<128 { XCTAssertEqual(pool.draw(&a), Self.oldDraw(pool, &b)) }
    }

    func testFrequenciesFollowTheWeights() throws {
        let pool = Self.pool
        let w = try QuadCategoryWeights(parsing: "single=1,two=3,column=1,row=1,count=2,empty=0")
        XCTAssertEqual(w.weights, [1, 3, 1, 1, 2, 0])
        let n = 80_000
        var counts = [Int](repeating: 0, count: 6)
        var rng = SeededRandom(seed: 42)
        for _ in 0..<n {
            let cat = pool.entries[pool.draw(&rng, weights: w)].spec.category
            counts[QuadCategory.allCases.firstIndex(of: cat)!] += 1
        }
        XCTAssertEqual(counts[5], 0, "a zero weight must never draw its category")
        var chi2 = 0.0
        for i in 0..<5 {
            let p = Double(w.weights[i]) / 8
            let expect = Double(n) * p
            let sd = (Double(n) * p * (1 - p)).squareRoot()
            XCTAssertLessThan(abs(Double(counts[i]) - expect), 5 * sd, "\(QuadCategory.allCases[i]): \(counts[i])")
            chi2 += (Double(counts[i]) - expect) * (Double(counts[i]) - expect) / expect
        }
        // 4 degrees of freedom: P(χ² > 18.47) = 0.001
        XCTAssertLessThan(chi2, 18.47)
        // within a category every entry stays reachable
        var seen = Set<Int>()
        let onlyTwo = try QuadCategoryWeights([0, 1, 0, 0, 0, 0])
        // 40 draws per entry: P(some entry missed) ≤ count · e^-40
        for _ in 0..<(40 * pool.byCategory[1].count) { seen.insert(pool.draw(&rng, weights: onlyTwo)) }
        XCTAssertEqual(seen, Set(pool.byCategory[1]))
    }

    func testParsingAndErrors() throws {
        let w = try QuadCategoryWeights(parsing: "two=3, count = 2")
        XCTAssertEqual(w.weights, [1, 3, 1, 1, 2, 1])
        XCTAssertEqual(w.description, "single=1,two=3,column=1,row=1,count=2,empty=1")
        XCTAssertEqual(w.compact, "1,3,1,1,2,1")
        XCTAssertEqual(try QuadCategoryWeights(parsing: w.description), w)
        XCTAssertEqual(w.total, 9)
        for bad in [
            "two=-1", "two=x", "two=1.5", "pair=2", "two", "two=1,two=2", "",
            "single=0,two=0,column=0,row=0,count=0,empty=0",
        ] {
            XCTAssertThrowsError(try QuadCategoryWeights(parsing: bad), bad) { e in
                let text = "\(e)"
                XCTAssertFalse(text.contains("\n"), "one-line error: \(text)")
                XCTAssertEqual((e as? FlowError)?.settings.first, .categoryWeights, text)
            }
        }
        XCTAssertThrowsError(try QuadCategoryWeights([1, 1]))
        XCTAssertThrowsError(try QuadCategoryWeights([0, 0, 0, 0, 0, 0]))
        XCTAssertEqual(try QuadCategoryWeights.from(metadata: [:], source: "x"), .uniform)
        XCTAssertEqual(
            try QuadCategoryWeights.from(metadata: [QuadCategoryWeights.metadataKey: w.description], source: "x"), w)
    }

    func testScheduleAppendsAndReplacesTheSameStep() throws {
        let w = try QuadCategoryWeights(parsing: "two=3,count=2")
        let s = w.appended(to: "0:1,1,1,1,1,1", atStep: 7000)
        XCTAssertEqual(s, "0:1,1,1,1,1,1;7000:1,3,1,1,2,1")
        XCTAssertEqual(QuadCategoryWeights.uniform.appended(to: s, atStep: 7000), "0:1,1,1,1,1,1;7000:1,1,1,1,1,1")
        XCTAssertEqual(w.appended(to: "0:1,1,1,1,1,1", atStep: 0), "0:1,3,1,1,2,1")
    }
}
