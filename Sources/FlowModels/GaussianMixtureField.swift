import Foundation
import FlowTensor

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
    let logWeights: UnsafeMutablePointer<Double>   // K·M, log π_yk
    let mu: UnsafeMutablePointer<Double>           // K·M·D
    let sigma2: UnsafeMutablePointer<Double>       // K·M·D

    /// Total number of components K·M.
    public var totalComponents: Int { numClasses * componentsPerClass }
    /// Doubles of scratch that `velocity(x:t:label:out:scratch:)` needs.
    public var scratchSize: Int { totalComponents }

    /// Creates a mixture; weights are renormalised per class; variances must be positive.
    public init(sampleShape: [Int], numClasses: Int, componentsPerClass: Int,
                weights: [Double], means: [Double], variances: [Double]) throws {
        let d = sampleShape.reduce(1, *)
        let km = numClasses * componentsPerClass
        guard numClasses > 0, componentsPerClass > 0, d > 0 else {
            throw FlowError("Gaussian mixture: classes, components and dimension must be positive")
        }
        guard weights.count == km, means.count == km * d, variances.count == km * d else {
            throw FlowError("Gaussian mixture: expected \(km) weights and \(km * d) means/variances, got \(weights.count)/\(means.count)/\(variances.count)")
        }
        guard variances.allSatisfy({ $0 > 0 && $0.isFinite }), means.allSatisfy({ $0.isFinite }),
              weights.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
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
        for i in 0..<(km * d) { mu[i] = means[i]; sigma2[i] = variances[i] }
    }

    deinit { logWeights.deallocate(); mu.deallocate(); sigma2.deallocate() }

    /// The `gmm:synthetic` preset: D = 16, K = 4 classes, M = 3 components per class, generated from seed 20240917.
    ///
    /// Means ~ N(0, 0.7²) per coordinate, standard deviations ~ U[0.6, 1.2], weights ~ U[0.5, 1.5] then normalised.
    /// Components overlap enough that no sample sits on a sharp separatrix between modes and no component is narrow
    /// enough to make the field stiff near t = 1, so the global error follows its asymptotic order from N = 4 on:
    /// fitted over N = 4, 8, 16, 32 through `flowturbo sample` (64 samples), Euler 0.95, Heun 2.0, H1P 1.9. (With
    /// standard deviations down to 0.4 the same fit gave Heun 1.80 and H1P 1.69: pre-asymptotic curvature.)
    public static func synthetic() -> GaussianMixtureField {
        let d = 16, k = 4, m = 3
        var rng = SplitMix64(seed: 20_240_917)
        var w = [Double](), mu = [Double](), v = [Double]()
        for _ in 0..<(k * m) { w.append(0.5 + rng.uniform()) }
        for _ in 0..<(k * m * d) { mu.append(0.7 * rng.normal()) }
        for _ in 0..<(k * m * d) { let s = 0.6 + 0.6 * rng.uniform(); v.append(s * s) }
        // Parameters are valid by construction.
        return try! GaussianMixtureField(sampleShape: [d], numClasses: k, componentsPerClass: m,
                                         weights: w, means: mu, variances: v)
    }

    /// Sum over coordinates of log(t² σ² + (1 − t)²) for component `k` (the time-only part of its log-density).
    @inline(__always)
    func logDet(component k: Int, t: Double) -> Double {
        let b2 = (1 - t) * (1 - t), t2 = t * t
        let s = sigma2 + k * dimension
        var acc = 0.0
        for j in 0..<dimension { acc += log(t2 * s[j] + b2) }
        return acc
    }

    /// Exact E[x1 − x0 | x_t = x] for one row in float64. `label` in 0..<K, anything else = null class.
    ///
    /// `scratch` needs `scratchSize` doubles; `logDets`, if given, holds `logDet` of every component at t.
    /// Allocation-free.
    public func velocity(x: UnsafePointer<Double>, t: Double, label: Int32, out: UnsafeMutablePointer<Double>,
                         scratch: UnsafeMutablePointer<Double>, logDets: UnsafePointer<Double>? = nil) {
        let d = dimension
        let isNull = label < 0 || Int(label) >= numClasses
        let first = isNull ? 0 : Int(label) * componentsPerClass
        let last = isNull ? totalComponents : first + componentsPerClass
        let nullShift = isNull ? -log(Double(numClasses)) : 0
        let b = 1 - t, b2 = b * b, t2 = t * t
        var best = -Double.infinity
        for k in first..<last {
            let m = mu + k * d, s = sigma2 + k * d
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
        for k in first..<last { let w = exp(scratch[k] - best); scratch[k] = w; total += w }
        for j in 0..<d { out[j] = 0 }
        let inv = 1 / total
        for k in first..<last {
            let w = scratch[k] * inv
            if w < 1e-18 { continue }
            let m = mu + k * d, s = sigma2 + k * d
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

    // MARK: file format

    /// Loads a mixture written by `write` (safetensors: `weights` K×M, `means`/`variances` K×M×D, config in metadata).
    public static func load(_ path: String) throws -> GaussianMixtureField {
        let f = try SafeTensors.load(path)
        guard f.metadata["format"] == "flowturbo-gmm" else {
            throw FlowError("\(path): not a flowturbo Gaussian-mixture file (metadata format != flowturbo-gmm); write one with `flowturbo fit-gmm`")
        }
        func int(_ key: String) throws -> Int {
            guard let s = f.metadata[key], let v = Int(s), v > 0 else {
                throw FlowError("\(path): metadata \"\(key)\" missing or not a positive integer")
            }
            return v
        }
        let k = try int("num_classes"), m = try int("components")
        guard let shapeString = f.metadata["sample_shape"] else { throw FlowError("\(path): metadata \"sample_shape\" missing") }
        let shape = shapeString.split(separator: ",").compactMap { Int($0) }
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else { throw FlowError("\(path): bad sample_shape \"\(shapeString)\"") }
        let d = shape.reduce(1, *)
        let w = try f.tensor("weights", shape: [k, m]).data.map(Double.init)
        let mu = try f.tensor("means", shape: [k, m, d]).data.map(Double.init)
        let v = try f.tensor("variances", shape: [k, m, d]).data.map(Double.init)
        return try GaussianMixtureField(sampleShape: shape, numClasses: k, componentsPerClass: m,
                                        weights: w, means: mu, variances: v)
    }

    /// Writes the mixture as float32 safetensors with its configuration in the metadata.
    public func write(_ path: String, extraMetadata: [String: String] = [:]) throws {
        let k = numClasses, m = componentsPerClass, d = dimension
        var meta = extraMetadata
        meta["format"] = "flowturbo-gmm"
        meta["num_classes"] = String(k)
        meta["components"] = String(m)
        meta["sample_shape"] = sampleShape.map(String.init).joined(separator: ",")
        try SafeTensors.write(path, tensors: [
            (name: "weights", tensor: Tensor(shape: [k, m], data: weights.map(Float.init))),
            (name: "means", tensor: Tensor(shape: [k, m, d], data: means.map(Float.init))),
            (name: "variances", tensor: Tensor(shape: [k, m, d], data: variances.map(Float.init))),
        ], metadata: meta)
    }
}

extension GaussianMixtureField {
    /// Fits a mixture per class: k-means++ seeding, `kmeansIterations` Lloyd steps, then `emIterations` EM steps
    /// on diagonal Gaussians; variances are floored at `varianceFloor` (MNIST background pixels are constant).
    ///
    /// `data` holds `labels.count` rows of `sampleShape` floats. Deterministic for a given `seed`.
    public static func fit(data: [Float], labels: [Int], sampleShape: [Int], numClasses: Int, components: Int,
                           kmeansIterations: Int = 10, emIterations: Int = 5, varianceFloor: Double = 0.01,
                           seed: UInt64 = 0) throws -> GaussianMixtureField {
        let d = sampleShape.reduce(1, *), m = components
        guard data.count == labels.count * d else {
            throw FlowError("fit: \(data.count) values do not hold \(labels.count) rows of \(d)")
        }
        var weights = [Double](), means = [Double](), variances = [Double]()
        var rng = SplitMix64(seed: seed)
        for c in 0..<numClasses {
            let rows = labels.indices.filter { labels[$0] == c }
            guard rows.count >= m else { throw FlowError("fit: class \(c) has \(rows.count) examples, fewer than \(m) components") }
            let n = rows.count
            var x = [Double](repeating: 0, count: n * d)
            for (i, r) in rows.enumerated() { for j in 0..<d { x[i * d + j] = Double(data[r * d + j]) } }
            var mu = [Double](repeating: 0, count: m * d)
            var v = [Double](repeating: 1, count: m * d)
            var pi = [Double](repeating: 1 / Double(m), count: m)
            var resp = [Double](repeating: 0, count: n * m)   // hard (k-means) or soft (EM) assignments
            x.withUnsafeMutableBufferPointer { xb in
            mu.withUnsafeMutableBufferPointer { mb in
            v.withUnsafeMutableBufferPointer { vb in
            resp.withUnsafeMutableBufferPointer { rb in
                let x = xb.baseAddress!, mu = mb.baseAddress!, v = vb.baseAddress!, resp = rb.baseAddress!
                func dist2(_ i: Int, _ k: Int) -> Double {
                    var s = 0.0
                    for j in 0..<d { let e = x[i * d + j] - mu[k * d + j]; s += e * e }
                    return s
                }
                // k-means++ seeding.
                var best = [Double](repeating: .infinity, count: n)
                var pick = Int(rng.next() % UInt64(n))
                for k in 0..<m {
                    for j in 0..<d { mu[k * d + j] = x[pick * d + j] }
                    var total = 0.0
                    for i in 0..<n { best[i] = min(best[i], dist2(i, k)); total += best[i] }
                    var target = rng.uniform() * total
                    pick = n - 1
                    for i in 0..<n { target -= best[i]; if target <= 0 { pick = i; break } }
                }
                // Lloyd iterations as hard responsibilities, then soft EM; both share the M-step below.
                for iter in 0..<(kmeansIterations + emIterations) {
                    if iter < kmeansIterations {
                        for i in 0..<n {
                            var bk = 0, bd = Double.infinity
                            for k in 0..<m { let e = dist2(i, k); if e < bd { bd = e; bk = k } }
                            for k in 0..<m { resp[i * m + k] = k == bk ? 1 : 0 }
                        }
                    } else {
                        for i in 0..<n {
                            var top = -Double.infinity
                            for k in 0..<m {
                                var q = 0.0
                                for j in 0..<d {
                                    let e = x[i * d + j] - mu[k * d + j], vv = v[k * d + j]
                                    q += e * e / vv + log(vv)
                                }
                                let lp = log(max(pi[k], 1e-300)) - 0.5 * q
                                resp[i * m + k] = lp
                                top = max(top, lp)
                            }
                            var s = 0.0
                            for k in 0..<m { let w = exp(resp[i * m + k] - top); resp[i * m + k] = w; s += w }
                            for k in 0..<m { resp[i * m + k] /= s }
                        }
                    }
                    // M-step: weights, means, floored variances (an empty cluster is re-seeded at a random row).
                    for k in 0..<m {
                        var nk = 0.0
                        for i in 0..<n { nk += resp[i * m + k] }
                        if nk < 1e-9 {
                            let r = Int(rng.next() % UInt64(n))
                            for j in 0..<d { mu[k * d + j] = x[r * d + j]; v[k * d + j] = 1 }
                            pi[k] = 1 / Double(n)
                            continue
                        }
                        pi[k] = nk / Double(n)
                        for j in 0..<d { mu[k * d + j] = 0; v[k * d + j] = 0 }
                        for i in 0..<n {
                            let w = resp[i * m + k]
                            if w == 0 { continue }
                            for j in 0..<d { mu[k * d + j] += w * x[i * d + j] }
                        }
                        for j in 0..<d { mu[k * d + j] /= nk }
                        for i in 0..<n {
                            let w = resp[i * m + k]
                            if w == 0 { continue }
                            for j in 0..<d { let e = x[i * d + j] - mu[k * d + j]; v[k * d + j] += w * e * e }
                        }
                        for j in 0..<d { v[k * d + j] = max(v[k * d + j] / nk, varianceFloor) }
                    }
                }
            }}}}
            weights += pi; means += mu; variances += v
        }
        return try GaussianMixtureField(sampleShape: sampleShape, numClasses: numClasses, componentsPerClass: m,
                                        weights: weights, means: means, variances: variances)
    }
}

/// Float32 evaluator of a `GaussianMixtureField`: float64 inside, every buffer allocated at creation.
final class GaussianMixtureEvaluator: VelocityEvaluator {
    let field: GaussianMixtureField
    let maxRows: Int
    let times: [Double]
    let logDets: UnsafeMutablePointer<Double>   // times.count × K·M
    let labels: UnsafeMutablePointer<Int32>
    let x64: UnsafeMutablePointer<Double>, out64: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>
    var rows = 0

    init(field: GaussianMixtureField, maxRows: Int, times: [Float]) {
        self.field = field
        self.maxRows = maxRows
        self.times = times.map(Double.init)
        let km = field.totalComponents, d = field.dimension
        logDets = .allocate(capacity: max(1, times.count * km))
        for (i, t) in self.times.enumerated() {
            for k in 0..<km { logDets[i * km + k] = field.logDet(component: k, t: t) }
        }
        labels = .allocate(capacity: max(1, maxRows))
        x64 = .allocate(capacity: d); out64 = .allocate(capacity: d); scratch = .allocate(capacity: km)
    }

    deinit { logDets.deallocate(); labels.deallocate(); x64.deallocate(); out64.deallocate(); scratch.deallocate() }

    func setLabels(_ labels: UnsafePointer<Int32>, rows: Int) {
        precondition(rows <= maxRows, "GaussianMixtureEvaluator: \(rows) rows > maxRows \(maxRows)")
        self.rows = rows
        for i in 0..<rows { self.labels[i] = labels[i] }
    }

    func evaluate(x: UnsafePointer<Float>, v: UnsafePointer<Float>?, timeIndex: Int, out: UnsafeMutablePointer<Float>) {
        run(x: x, t: times[timeIndex], logDets: UnsafePointer(logDets + timeIndex * field.totalComponents), out: out)
    }

    func evaluate(x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: Float, out: UnsafeMutablePointer<Float>) {
        run(x: x, t: Double(t), logDets: nil, out: out)
    }

    @inline(__always)
    private func run(x: UnsafePointer<Float>, t: Double, logDets: UnsafePointer<Double>?, out: UnsafeMutablePointer<Float>) {
        let d = field.dimension
        for r in 0..<rows {
            for j in 0..<d { x64[j] = Double(x[r * d + j]) }
            field.velocity(x: x64, t: t, label: labels[r], out: out64, scratch: scratch, logDets: logDets)
            for j in 0..<d { out[r * d + j] = Float(out64[j]) }
        }
    }
}

/// SplitMix64: a tiny deterministic generator for building presets and fitting (not for sampling noise).
public struct SplitMix64 {
    var state: UInt64
    /// Creates the generator from a seed.
    public init(seed: UInt64) { state = seed }
    /// Next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = uniform() + 1e-300, u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
