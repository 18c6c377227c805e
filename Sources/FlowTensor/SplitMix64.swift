import Foundation

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014; Vigna's
/// `splitmix64.c`): the one seeded 64-bit generator of the project, for everything except sampling noise (sampling
/// noise is counter-based, FlowSampler's Philox, so it depends only on (seed, sample index)).
///
/// A stream is where the state starts relative to the seed; the names say who draws from it, so two users that
/// must stay apart or must match (fixtures written in Python) are visibly on the same or different streams.
public struct SplitMix64 {
    /// Where a generator's state starts relative to its seed.
    public struct Stream: Equatable {
        /// Added to the seed to form the initial state.
        public let offset: UInt64
        /// The reference stream: state = seed (Vigna's C code). Mixture presets and fitting, statistics.
        public static let reference = Stream(offset: 0)
        /// Weight initialisation, tests and fuzzing (`SeededRandom`): state = seed + one increment, i.e. the
        /// reference stream with its first output skipped.
        public static let initialisation = Stream(offset: SplitMix64.increment)
    }

    /// The Weyl increment: 2^64 / φ, odd.
    public static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The generator's state (the last Weyl-sequence value).
    public var state: UInt64

    /// Creates the generator on `stream` (default: the reference stream, state = seed).
    public init(seed: UInt64, stream: Stream = .reference) { state = seed &+ stream.offset }

    /// Next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= SplitMix64.increment
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 finaliser (Stafford's variant 13): a bijective 64-bit hash.
    @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits (the top 53 bits of `next()`).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal by Box–Muller: sqrt(−2 ln u1) cos(2π u2), with u1 = 0 replaced by 1e-300.
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300)
        let u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
