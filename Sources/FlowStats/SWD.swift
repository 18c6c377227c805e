import COpenBLAS
import FlowTensor

/// Sliced Wasserstein distance: mean over L seeded unit directions θ of W₁(θᵀX, θᵀY).
///
/// Directions are standard normal vectors from `StatsRandom(seed)` (d values each, in order),
/// normalised to unit length. The 1-D W₁ between empirical distributions is computed exactly from
/// the sorted projections (∫|F − G|, unequal sizes allowed), matching `scipy.stats.wasserstein_distance`.
public enum SWD {
    /// SW₁ of `a` (n × d) and `b` (m × d), row-major float64.
    public static func compute(
        _ a: [Double], _ b: [Double], dimension d: Int, directions: Int = 128, seed: UInt64 = 0
    ) throws -> Double {
        let n = a.count / d
        let m = b.count / d
        guard n >= 1, m >= 1, directions >= 1 else {
            throw FlowError(
                "SWD: need samples on both sides and at least one direction (got \(n), \(m), \(directions))")
        }
        // Directions: d standard normals each, in order, normalised (L × d); projections by dgemm.
        var rng = StatsRandom(seed: seed)
        var theta = [Double](repeating: 0, count: directions * d)
        for l in 0..<directions {
            var norm = 0.0
            for k in 0..<d {
                let g = rng.normal()
                theta[l * d + k] = g
                norm += g * g
            }
            norm = norm.squareRoot()
            for k in 0..<d { theta[l * d + k] /= norm }
        }
        var pa = [Double](repeating: 0, count: n * directions)
        var pb = [Double](repeating: 0, count: m * directions)
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(directions), Int32(d), 1, a, Int32(d), theta,
            Int32(d), 0, &pa, Int32(directions))
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(directions), Int32(d), 1, b, Int32(d), theta,
            Int32(d), 0, &pb, Int32(directions))
        var u = [Double](repeating: 0, count: n)
        var v = [Double](repeating: 0, count: m)
        var total = 0.0
        for l in 0..<directions {
            for i in 0..<n { u[i] = pa[i * directions + l] }
            for i in 0..<m { v[i] = pb[i * directions + l] }
            total += wasserstein1D(u, v)
        }
        return total / Double(directions)
    }

    /// Exact W₁ between the empirical distributions of `u` and `v`: ∫ |F_u(t) − F_v(t)| dt.
    public static func wasserstein1D(_ u: [Double], _ v: [Double]) -> Double {
        let su = u.sorted()
        let sv = v.sorted()
        let nu = Double(su.count)
        let nv = Double(sv.count)
        var i = 0
        var j = 0
        var total = 0.0
        var prev = Swift.min(su[0], sv[0])
        while i < su.count || j < sv.count {
            let next: Double
            if j >= sv.count || (i < su.count && su[i] <= sv[j]) { next = su[i] } else { next = sv[j] }
            total += abs(Double(i) / nu - Double(j) / nv) * (next - prev)
            prev = next
            while i < su.count && su[i] == next { i += 1 }
            while j < sv.count && sv[j] == next { j += 1 }
        }
        return total
    }
}
