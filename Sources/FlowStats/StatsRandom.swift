import FlowTensor
import Foundation

/// SplitMix64 for the statistics code: seeded reservoir keys, KID subsets, SWD directions, projections.
///
/// Chosen because it is trivial to reproduce bit-for-bit in Python (see Scripts/make_stats_fixtures.py),
/// so fixtures can check seeded metrics exactly. Not for sampling noise (FlowSampler has Philox).
public struct StatsRandom {
    var core: SplitMix64
    /// Creates the generator from a seed (FlowTensor's `SplitMix64` on its reference stream).
    public init(seed: UInt64) { core = SplitMix64(seed: seed, stream: .reference) }

    /// Next 64 random bits.
    public mutating func next() -> UInt64 { core.next() }

    /// The SplitMix64 finaliser: a bijective 64-bit hash.
    public static func mix(_ x: UInt64) -> UInt64 { SplitMix64.mix(x) }

    /// Stateless hash of (seed, index) used for reservoir priorities: mix(mix(seed) ^ index).
    public static func hash(seed: UInt64, index: Int) -> UInt64 { mix(mix(seed) ^ UInt64(bitPattern: Int64(index))) }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { core.uniform() }

    /// Uniform integer in 0..<n (n > 0) by 53-bit uniform scaling (reproducible in Python as int(u * n)).
    public mutating func below(_ n: Int) -> Int { Swift.min(n - 1, Int(uniform() * Double(n))) }

    /// Standard normal by Box–Muller (one value per two uniforms): sqrt(-2 ln(1 − u1)) cos(2π u2).
    public mutating func normal() -> Double {
        let u1 = uniform()
        let u2 = uniform()
        return (-2 * log(1 - u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// First `m` entries of a seeded Fisher–Yates shuffle of 0..<n: a subset without replacement.
    public mutating func subset(_ m: Int, of n: Int) -> [Int] {
        var perm = Array(0..<n)
        for i in 0..<Swift.min(m, n) {
            let j = i + below(n - i)
            perm.swapAt(i, j)
        }
        return Array(perm.prefix(m))
    }
}
