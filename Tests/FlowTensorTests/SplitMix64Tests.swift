import FlowTensor
import XCTest

/// SplitMix64 against the published reference stream of Vigna's splitmix64.c (as quoted by rand_xoshiro's test
/// `reference`, seed 1477776061723855037), and the named streams against it.
final class SplitMix64Tests: XCTestCase {
    static let seed: UInt64 = 1_477_776_061_723_855_037
    static let reference: [UInt64] = [
        1_985_237_415_132_408_290, 2_979_275_885_539_914_483, 13_511_426_838_097_143_398,
        8_488_337_342_461_049_707, 15_141_737_807_933_549_159, 17_093_170_987_380_407_015,
    ]

    func testReferenceStreamMatchesPublishedOutputs() {
        var g = SplitMix64(seed: Self.seed)
        XCTAssertEqual((0..<6).map { _ in g.next() }, Self.reference)
        var h = SplitMix64(seed: Self.seed, stream: .reference)
        XCTAssertEqual(h.next(), Self.reference[0])
    }

    /// `SeededRandom` (weights, tests, fuzzing) is the initialisation stream: the reference stream less its first
    /// output, as its historical seed + increment start made it.
    func testInitialisationStreamIsReferenceSkippingOne() {
        var g = SplitMix64(seed: Self.seed, stream: .initialisation)
        XCTAssertEqual((0..<5).map { _ in g.next() }, Array(Self.reference[1...]))
        var s = SeededRandom(seed: Self.seed)
        XCTAssertEqual((0..<5).map { _ in s.next() }, Array(Self.reference[1...]))
    }

    /// uniform() is the top 53 bits over 2^53; normal() is Box–Muller of two such uniforms.
    func testUniformAndNormalFromReferenceBits() {
        var g = SplitMix64(seed: Self.seed)
        let u = (0..<2).map { Double(Self.reference[$0] >> 11) / 9_007_199_254_740_992 }
        XCTAssertEqual(g.uniform(), u[0])
        XCTAssertEqual(g.uniform(), u[1])
        var n = SplitMix64(seed: Self.seed)
        let want = (-2 * log(u[0])).squareRoot() * cos(2 * Double.pi * u[1])
        XCTAssertEqual(n.normal(), want)
    }

    func testMixIsTheFinaliser() {
        // The reference's first output is mix(seed + increment).
        XCTAssertEqual(SplitMix64.mix(Self.seed &+ 0x9E37_79B9_7F4A_7C15), Self.reference[0])
    }
}
