import FlowTensor
import Foundation

/// The exact velocity field of a class-conditional diagonal Gaussian mixture under the linear path.
///
/// Data x1 of class y ~ Σ_k π_yk N(μ_yk, diag σ²_yk), noise x0 ~ N(0, I), x_t = t x1 + (1 − t) x0.
/// Given component k, (x_t, u = x1 − x0) is jointly Gaussian with x_t ~ N(t μ, t² σ² + (1 − t)² I) and
/// Cov(u, x_t) = t σ² − (1 − t) (per coordinate), so
///     E[u | x_t, k] = μ + (t σ² − (1 − t)) / (t² σ² + (1 − t)²) ⊙ (x_t − t μ),
/// and E[u | x_t] = Σ_k r_k(x_t) E[u | x_t, k] with posterior responsibilities
/// r_k ∝ π_k N(x_t; t μ_k, t² σ²_k + (1 − t)² I) (computed by log-sum-exp). Checks: at t = 0 each component gives
/// μ − x (x = x0), at t = 1 it gives x (u = x1 − x0 with x0 independent of x1).
/// The null class (label `numClasses`) is the mixture of all classes with weights π_yk / K.
/// Everything is evaluated in float64; the `VelocityField` interface rounds to float32.
public final class GaussianMixtureField: VelocityField {
    /// Shape of one sample, e.g. `[16]` or `[1, 28, 28]`.
    public let sampleShape: [Int]
    /// Number of real classes K (label K is the null class).
    public let numClasses: Int
    /// Components per class M.
    public let componentsPerClass: Int
    /// Dimension D (product of `sampleShape`).
    public let dimension: Int
    /// Always false.
    public var isRefiner: Bool { false }
    /// About 10 flops per component and coordinate (two passes).
    public var flopsPerRow: Double { Double(numClasses * componentsPerClass * dimension) * 10 }

    /// Mixture weights π (K·M, each class's weights sum to 1), means and variances (K·M·D), float64.
    public let weights: [Double], means: [Double], variances: [Double]
    let logWeights: UnsafeMutablePointer<Double>  // K·M, log π_yk
    let mu: UnsafeMutablePointer<Double>  // K·M·D
    let sigma2: UnsafeMutablePointer<Double>  // K·M·D

    /// Total number of components K·M.
    public var totalComponents: Int { numClasses * componentsPerClass }
    /// Doubles of scratch that `velocity(x:t:label:out:scratch:)` needs.
    public var scratchSize: Int { totalComponents }

    /// Creates a mixture; weights are renormalised per class; variances must be positive.
    public init(
        sampleShape: [Int], numClasses: Int, componentsPerClass: Int,
        weights: [Double], means: [Double], variances: [Double]
    ) throws {
        let d = sampleShape.reduce(1, *)
        let km = numClasses * componentsPerClass
        guard numClasses > 0, componentsPerClass > 0, d > 0 else {
            throw FlowError("Gaussian mixture: classes, components and dimension must be positive")
        }
        guard weights.count == km, means.count == km * d, variances.count == km * d else {
            throw FlowError(
                "Gaussian mixture: expected \(km) weights and \(km * d) means/variances, got \(weights.count)/\(means.count)/\(variances.count)"
            )
        }
        guard variances.allSatisfy({ $0 > 0 && $0.isFinite }), means.allSatisfy({ $0.isFinite }),
            weights.allSatisfy({ $0 >= 0 && $0.isFinite })
        else {
            throw FlowError("Gaussian mixture: variances must be positive and all parameters finite")
        }
        self.sampleShape = sampleShape
        self.numClasses = numClasses
        self.componentsPerClass = componentsPerClass
        self.dimension = d
        var w = weights
        for c in 0..<numClasses {
            let s = w[(c * componentsPerClass)..<((c + 1) * componentsPerClass)].reduce(0, +)
            guard s > 0 else { throw FlowError("Gaussian mixture: class \(c) has zero total weight") }
            for k in 0..<componentsPerClass { w[c * componentsPerClass + k] /= s }
        }
        self.weights = w
        self.means = means
        self.variances = variances
        logWeights = .allocate(capacity: km)
        mu = .allocate(capacity: km * d)
        sigma2 = .allocate(capacity: km * d)
        for i in 0..<km { logWeights[i] = log(w[i]) }
        for i in 0..<(km * d) {
            mu[i] = means[i]
            sigma2[i] = variances[i]
        }
    }

    deinit {
        logWeights.deallocate()
        mu.deallocate()
        sigma2.deallocate()
    }

    /// The `gmm:synthetic` preset: D = 16, K = 4 classes, M = 3 components per class, generated from seed 20240917.
    ///
    /// Means ~ N(0, 0.7²) per coordinate, standard deviations ~ U[0.6, 1.2], weights ~ U[0.5, 1.5] then normalised.
    /// Components overlap enough that no sample sits on a sharp separatrix between modes and no component is narrow
    /// enough to make the field stiff near t = 1, so the global error follows its asymptotic order from N = 4 on:
    /// fitted over N = 4, 8, 16, 32 through `flowturbo sample` (64 samples), Euler 0.95, Heun 2.0, H1P 1.9. (With
    /// standard deviations down to 0.4 the same fit gave Heun 1.80 and H1P 1.69: pre-asymptotic curvature.)
    public static func synthetic() -> GaussianMixtureField {
        let d = 16
        let k = 4
        let m = 3
        var rng = SplitMix64(seed: 20_240_917)
        var w = [Double]()
        var mu = [Double]()
        var v = [Double]()
        for _ in 0..<(k * m) { w.append(0.5 + rng.uniform()) }
        for _ in 0..<(k * m * d) { mu.append(0.7 * rng.normal()) }
        for _ in 0..<(k * m * d) {
            let s = 0.6 + 0.6 * rng.uniform()
            v.append(s * s)
        }
        // Parameters are valid by construction.
        return try! GaussianMixtureField(
            sampleShape: [d], numClasses: k, componentsPerClass: m,
            weights: w, means: mu, variances: v)
    }

    /// Sum over coordinates of log(t² σ² + (1 − t)²) for component `k` (the time-only part of its log-density).
    @inline(__always)
    func logDet(component k: Int, t: Double) -> Double {
        let b2 = (1 - t) * (1 - t)
        let t2 = t * t
        let s = sigma2 + k * dimension
        var acc = 0.0
        for j in 0..<dimension { acc += log(t2 * s[j] + b2) }
        return acc
    }

    /// Exact E[x1 − x0 | x_t = x] for one row in float64. `label` in 0..<K, anything else = null class.
    ///
    /// `scratch` needs `scratchSize` doubles; `logDets`, if given, holds `logDet` of every component at t.
    /// Allocation-free.
    public func velocity(
        x: UnsafePointer<Double>, t: Double, label: Int32, out: UnsafeMutablePointer<Double>,
        scratch: UnsafeMutablePointer<Double>, logDets: UnsafePointer<Double>?
    ) {
        let d = dimension
        let isNull = label < 0 || Int(label) >= numClasses
        let first = isNull ? 0 : Int(label) * componentsPerClass
        let last = isNull ? totalComponents : first + componentsPerClass
        let nullShift = isNull ? -log(Double(numClasses)) : 0
        let b = 1 - t
        let b2 = b * b
        let t2 = t * t
        var best = -Double.infinity
        for k in first..<last {
            let m = mu + k * d
            let s = sigma2 + k * d
            var q = 0.0
            for j in 0..<d {
                let v = t2 * s[j] + b2
                let r = x[j] - t * m[j]
                q += r * r / v
            }
            let ld = logDets?[k] ?? logDet(component: k, t: t)
            let lp = logWeights[k] + nullShift - 0.5 * (q + ld)
            scratch[k] = lp
            if lp > best { best = lp }
        }
        var total = 0.0
        for k in first..<last {
            let w = exp(scratch[k] - best)
            scratch[k] = w
            total += w
        }
        for j in 0..<d { out[j] = 0 }
        let inv = 1 / total
        for k in first..<last {
            let w = scratch[k] * inv
            if w < 1e-18 { continue }
            let m = mu + k * d
            let s = sigma2 + k * d
            for j in 0..<d {
                let v = t2 * s[j] + b2
                out[j] += w * (m[j] + (t * s[j] - b) / v * (x[j] - t * m[j]))
            }
        }
    }

    /// Creates a float32 evaluator with per-time log-determinants precomputed for `times`.
    public func makeEvaluator(maxRows: Int, times: [Float]) -> VelocityEvaluator {
        GaussianMixtureEvaluator(field: self, maxRows: maxRows, times: times)
    }

    /// The mixture is evaluated natively in float64 (the reference path of adaptive solvers).
    public var float64: Float64VelocityField? { self }
}

extension GaussianMixtureField: Float64VelocityField {
    /// `velocity(x:t:label:out:scratch:logDets:)` with the log-determinants computed on the fly.
    public func velocity(
        x: UnsafePointer<Double>, t: Double, label: Int32, out: UnsafeMutablePointer<Double>,
        scratch: UnsafeMutablePointer<Double>
    ) {
        velocity(x: x, t: t, label: label, out: out, scratch: scratch, logDets: nil)
    }
}
