import FlowTensor
import XCTest

@testable import FlowSampler

final class PlanTests: XCTestCase {
    func testParseValid() throws {
        XCTAssertEqual(try Plan.parse("H2P4R2").kind, .turbo(heun: 2, pseudo: 4, refine: 2))
        XCTAssertEqual(try Plan.parse("H8").kind, .turbo(heun: 8, pseudo: 0, refine: 0))
        XCTAssertEqual(try Plan.parse("P5").kind, .turbo(heun: 0, pseudo: 5, refine: 0))
        XCTAssertEqual(try Plan.parse("H1R3").kind, .turbo(heun: 1, pseudo: 0, refine: 3))
        XCTAssertEqual(try Plan.parse("E12").kind, .euler(steps: 12))
        XCTAssertEqual(try Plan.parse("dopri5").kind, .dopri5)
        for s in ["H2P4R2", "H1P5", "E7", "dopri5", "R2", "P3R1"] { XCTAssertEqual(try Plan.parse(s).description, s) }
    }

    func testParseErrorsShowGrammar() {
        for bad in ["", "H2Q", "P2H1", "H", "H2H3", "E", "E0", "H0", "x", "H2P4R2 ", "RK4", "E3H2"] {
            XCTAssertThrowsError(try Plan.parse(bad), bad) { e in
                let m = (e as? FlowError)?.message ?? ""
                XCTAssert(m.contains("H{a}P{b}R{c}") && m.contains("E{n}") && m.contains("dopri5"), m)
            }
        }
        XCTAssertThrowsError(try Plan.parse("H2Q")) { e in
            XCTAssertEqual(
                (e as? FlowError)?.message,
                "invalid plan \"H2Q\": expected H{a}P{b}R{c} (parts optional, in this order, e.g. H2P4R2), E{n} or dopri5"
            )
        }
    }

    func testNFEFormula() throws {
        let p = try Plan.parse("H2P4R2")
        XCTAssertEqual(p.steps, 8)
        XCTAssertEqual(p.predictorNFE, 2 * 2 + 4)
        XCTAssertEqual(p.refinerNFE, 4)
        XCTAssertEqual(p.refinerNFE(for: .euler), 2)
        XCTAssertEqual(try Plan.parse("P5").predictorNFE, 6, "first P step has no cache and must evaluate")
        XCTAssertEqual(try Plan.parse("R3").predictorNFE, 1, "R without a cache bootstraps v_prev with one call")
        XCTAssertEqual(try Plan.parse("E9").predictorNFE, 9)
    }
}
