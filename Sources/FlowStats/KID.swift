import COpenBLAS
import FlowTensor

/// Kernel Inception Distance (Bińkowski et al. 2018) on given features, float64.
///
/// Kernel k(x, y) = (xᵀy / d + 1)³. For each of `subsets` rounds, m = min(subsetSize, n_real, n_fake)
/// rows are drawn without replacement from each set (seeded `StatsRandom.subset`, generated first,
/// then reference), and the unbiased MMD² is
/// (Σ_{i≠j} k(x_i,x_j) + Σ_{i≠j} k(y_i,y_j)) / (m(m−1)) − 2 Σ_{i,j} k(x_i,y_j) / m².
/// `kid` is the mean over rounds and `std` the population standard deviation (as torch-fidelity).
public struct KIDResult: Sendable, Equatable {
    /// Mean MMD² over subsets, its population std, the subset size used and the number of subsets.
    public var kid: Double, std: Double, subsetSize: Int, subsets: Int
}

/// KID computation.
public enum KID {
    /// KID of generated `fake` against `real` (row-major float64, dimension d).
    public static func compute(
        real: [Double], fake: [Double], dimension d: Int,
        subsetSize: Int = 1000, subsets: Int = 100, seed: UInt64 = 0
    ) throws -> KIDResult {
        let n = real.count / d
        let nf = fake.count / d
        let m = Swift.min(subsetSize, n, nf)
        guard m >= 2, subsets >= 1 else {
            throw FlowError(
                "KID: need at least 2 samples per subset and 1 subset (reference \(n), generated \(nf), subset size \(subsetSize), subsets \(subsets))"
            )
        }
        var rng = StatsRandom(seed: seed)
        var x = [Double](repeating: 0, count: m * d)
        var y = x
        var kxx = [Double](repeating: 0, count: m * m)
        var kyy = kxx
        var kxy = kxx
        var values: [Double] = []
        for _ in 0..<subsets {
            let fi = rng.subset(m, of: nf)
            let ri = rng.subset(m, of: n)
            x.withUnsafeMutableBufferPointer { xp in
                fake.withUnsafeBufferPointer { fp in
                    for (r, i) in fi.enumerated() {
                        (xp.baseAddress! + r * d).update(from: fp.baseAddress! + i * d, count: d)
                    }
                }
            }
            y.withUnsafeMutableBufferPointer { yp in
                real.withUnsafeBufferPointer { rp in
                    for (r, i) in ri.enumerated() {
                        (yp.baseAddress! + r * d).update(from: rp.baseAddress! + i * d, count: d)
                    }
                }
            }
            let s = 1 / Double(d)
            // Kxx, Kyy upper triangles by dsyrk (half the flops of dgemm); Kxy in full.
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(m), Int32(d), s, x, Int32(d), 0, &kxx, Int32(m))
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(m), Int32(d), s, y, Int32(d), 0, &kyy, Int32(m))
            cblas_dgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(m), Int32(d), s, x, Int32(d), y, Int32(d), 0,
                &kxy, Int32(m))
            var sxx = 0.0
            var syy = 0.0
            var sxy = 0.0
            kxx.withUnsafeBufferPointer { pxx in
                kyy.withUnsafeBufferPointer { pyy in
                    kxy.withUnsafeBufferPointer { pxy in
                        for i in 0..<m {
                            for j in 0..<m {
                                let c = pxy[i * m + j] + 1
                                sxy += c * c * c
                            }
                            for j in (i + 1)..<Swift.max(i + 1, m) {
                                let a = pxx[i * m + j] + 1
                                let b = pyy[i * m + j] + 1
                                sxx += a * a * a
                                syy += b * b * b
                            }
                        }
                    }
                }
            }
            sxx *= 2
            syy *= 2
            let mm = Double(m)
            values.append((sxx + syy) / (mm * (mm - 1)) - 2 * sxy / (mm * mm))
        }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        return KIDResult(kid: mean, std: variance.squareRoot(), subsetSize: m, subsets: subsets)
    }
}
