import FlowTensor

/// Exact mean and covariance of diagonal Gaussian mixtures (the `gmm:*` fields), globally and per class.
///
/// For class y with components k: μ_y = Σ_k π_yk μ_yk and Σ_y = Σ_k π_yk (diag σ²_yk + μ_yk μ_ykᵀ) − μ_y μ_yᵀ.
/// The global distribution mixes classes with `classWeights` (uniform by default, matching balanced labels).
public enum MixtureMoments {
    /// (mean, covariance D×D) of class `c` or, with `c == nil`, of the class mixture.
    public static func moments(
        weights: [Double], means: [Double], variances: [Double], classes: Int, components: Int,
        dimension d: Int, classWeights: [Double]? = nil, of c: Int? = nil
    ) throws -> (mean: [Double], covariance: [Double]) {
        let km = classes * components
        guard weights.count == km, means.count == km * d, variances.count == km * d else {
            throw FlowError("mixture moments: expected \(km) weights and \(km * d) means/variances")
        }
        var cw = classWeights ?? [Double](repeating: 1 / Double(classes), count: classes)
        guard cw.count == classes else {
            throw FlowError("mixture moments: \(cw.count) class weights for \(classes) classes")
        }
        if let c = c {
            guard c >= 0 && c < classes else {
                throw FlowError("mixture moments: class \(c) out of range 0..<\(classes)")
            }
            cw = (0..<classes).map { $0 == c ? 1 : 0 }
        }
        let tot = cw.reduce(0, +)
        var mean = [Double](repeating: 0, count: d)
        var second = [Double](repeating: 0, count: d * d)
        for y in 0..<classes where cw[y] != 0 {
            let wsum = weights[(y * components)..<((y + 1) * components)].reduce(0, +)
            for k in 0..<components {
                let idx = y * components + k
                let w = cw[y] / tot * weights[idx] / wsum
                let mu = means[(idx * d)..<((idx + 1) * d)].map { $0 }
                for i in 0..<d {
                    mean[i] += w * mu[i]
                    second[i * d + i] += w * variances[idx * d + i]
                    for j in 0..<d { second[i * d + j] += w * mu[i] * mu[j] }
                }
            }
        }
        for i in 0..<d { for j in 0..<d { second[i * d + j] -= mean[i] * mean[j] } }
        return (mean, second)
    }
}
