import CLAPACKE
import COpenBLAS
import FlowTensor

/// Fréchet distance between Gaussians in float64 via LAPACK `dsyevd`, with rounding diagnostics.
///
/// FD = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁^½ Σ₂ Σ₁^½). The last trace equals tr √(Σ₁Σ₂) (the two
/// matrices are similar) but the symmetric form has real non-negative eigenvalues in exact arithmetic,
/// so no complex `sqrtm` is needed. Eigenvalues that rounding pushes below zero are clamped to 0 and
/// reported (count and most negative value) instead of being hidden.
public struct FrechetResult: Sendable {
    /// The distance (may be slightly negative only through rounding when the inputs are equal).
    public var distance: Double
    /// ‖μ₁ − μ₂‖².
    public var meanTerm: Double
    /// tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁^½ Σ₂ Σ₁^½).
    public var covarianceTerm: Double
    /// tr √(Σ₁^½ Σ₂ Σ₁^½).
    public var traceSqrt: Double
    /// How many eigenvalues (of Σ₁ and of Σ₁^½ Σ₂ Σ₁^½ together) were negative and clamped to zero.
    public var clampedEigenvalues: Int
    /// The most negative eigenvalue seen before clamping (0 when none).
    public var mostNegativeEigenvalue: Double
}

/// Fréchet distance and the symmetric eigen-solvers it uses.
public enum Frechet {
    /// Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); sigmas are D×D row-major.
    ///
    /// Throws on mismatched shapes, non-finite values, or asymmetric inputs (relative asymmetry > 1e-6).
    public static func distance(
        mu1: [Double], sigma1: [Double], mu2: [Double], sigma2: [Double]
    ) throws -> FrechetResult {
        let d = mu1.count
        guard d > 0, mu2.count == d, sigma1.count == d * d, sigma2.count == d * d else {
            throw FlowError(
                "Fréchet distance: shapes differ (mu \(mu1.count) vs \(mu2.count), sigma \(sigma1.count) vs \(sigma2.count)); both sides must use the same feature dimension"
            )
        }
        for (name, a) in [("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)]
        where !a.allSatisfy({ $0.isFinite }) {
            throw FlowError("Fréchet distance: \(name) contains NaN or infinity; recompute the statistics")
        }
        try checkSymmetric(sigma1, d, "sigma1")
        try checkSymmetric(sigma2, d, "sigma2")
        try checkPositiveSemidefinite(eigenvalues(symmetrize(sigma2, d), d), "sigma2")
        var meanTerm = 0.0
        for j in 0..<d {
            let t = mu1[j] - mu2[j]
            meanTerm += t * t
        }
        var tr1 = 0.0
        var tr2 = 0.0
        for j in 0..<d {
            tr1 += sigma1[j * d + j]
            tr2 += sigma2[j * d + j]
        }

        var clamped = 0
        var mostNegative = 0.0
        // Σ₁^½ = V diag(√λ) Vᵀ.
        var (lam, v) = try eigen(symmetrize(sigma1, d), d)
        try checkPositiveSemidefinite(lam, "sigma1")
        for i in 0..<d where lam[i] < 0 {
            clamped += 1
            mostNegative = Swift.min(mostNegative, lam[i])
            lam[i] = 0
        }
        var vs = v  // V diag(√λ)
        for r in 0..<d { for c in 0..<d { vs[r * d + c] = v[r * d + c] * lam[c].squareRoot() } }
        var root = [Double](repeating: 0, count: d * d)
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(d), Int32(d), Int32(d), 1, vs, Int32(d), v, Int32(d), 0,
            &root, Int32(d))
        // M = Σ₁^½ Σ₂ Σ₁^½.
        var tmp = [Double](repeating: 0, count: d * d)
        var m = [Double](repeating: 0, count: d * d)
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1, root, Int32(d), sigma2,
            Int32(d), 0, &tmp, Int32(d))
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1, tmp, Int32(d), root, Int32(d),
            0, &m, Int32(d))
        let mu = try eigenvalues(symmetrize(m, d), d)
        var traceSqrt = 0.0
        for x in mu {
            if x < 0 {
                clamped += 1
                mostNegative = Swift.min(mostNegative, x)
            } else {
                traceSqrt += x.squareRoot()
            }
        }
        let covTerm = tr1 + tr2 - 2 * traceSqrt
        return FrechetResult(
            distance: meanTerm + covTerm, meanTerm: meanTerm, covarianceTerm: covTerm, traceSqrt: traceSqrt,
            clampedEigenvalues: clamped, mostNegativeEigenvalue: mostNegative)
    }

    /// Fréchet distance between two sets of moments (means and ddof-1 covariances).
    public static func distance(_ a: Moments, _ b: Moments) throws -> FrechetResult {
        try distance(mu1: a.mean, sigma1: try a.covariance(), mu2: b.mean, sigma2: try b.covariance())
    }

    static func checkSymmetric(_ s: [Double], _ d: Int, _ name: String) throws {
        var scale = 0.0
        for x in s { scale = Swift.max(scale, abs(x)) }
        for i in 0..<d {
            for j in (i + 1)..<Swift.max(i + 1, d)
            where abs(s[i * d + j] - s[j * d + i]) > 1e-6 * Swift.max(scale, 1e-300) {
                throw FlowError("Fréchet distance: \(name) is not symmetric at (\(i), \(j)); pass a covariance matrix")
            }
        }
    }

    /// Relative size of a negative eigenvalue that rounding cannot explain (float64 covariances of real data
    /// show ~1e-12 at most).
    static let negativeEigenvalueTolerance = 1e-6

    /// A covariance has no eigenvalue below −tolerance · (largest |eigenvalue|); rounding-level negatives are
    /// clamped and reported later, anything larger means the matrix is not a covariance (FD would be meaningless,
    /// even negative).
    static func checkPositiveSemidefinite(_ ascending: [Double], _ name: String) throws {
        guard let low = ascending.first, let high = ascending.last else { return }
        let scale = Swift.max(abs(low), abs(high))
        guard low >= -negativeEigenvalueTolerance * scale else {
            throw FlowError(
                "Fréchet distance: \(name) is not positive semi-definite (eigenvalue \(low), "
                    + "largest \(high)); it is not a covariance matrix — recompute the statistics")
        }
    }

    static func symmetrize(_ a: [Double], _ d: Int) -> [Double] {
        var s = a
        for i in 0..<d {
            for j in (i + 1)..<Swift.max(i + 1, d) {
                let v = 0.5 * (a[i * d + j] + a[j * d + i])
                s[i * d + j] = v
                s[j * d + i] = v
            }
        }
        return s
    }

    /// Eigenvalues (ascending) and eigenvectors (columns of the row-major result) of a symmetric matrix (`dsyevd`).
    public static func eigen(_ a: [Double], _ d: Int) throws -> (values: [Double], vectors: [Double]) {
        var m = a
        var w = [Double](repeating: 0, count: d)
        let info = LAPACKE_dsyevd(
            LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")), Int32(d), &m, Int32(d), &w)
        guard info == 0 else {
            throw FlowError("Fréchet distance: LAPACK dsyevd failed (info \(info)); the covariance may contain NaN")
        }
        return (w, m)
    }

    /// Eigenvalues (ascending) of a symmetric matrix (`dsyevd`, no vectors).
    public static func eigenvalues(_ a: [Double], _ d: Int) throws -> [Double] {
        var m = a
        var w = [Double](repeating: 0, count: d)
        let info = LAPACKE_dsyevd(
            LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "N")), Int8(UInt8(ascii: "U")), Int32(d), &m, Int32(d), &w)
        guard info == 0 else { throw FlowError("Fréchet distance: LAPACK dsyevd failed (info \(info))") }
        return w
    }
}
