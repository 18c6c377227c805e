import FlowTensor
import Foundation

extension GaussianMixtureField {
    /// Fits a mixture per class: k-means++ seeding, `kmeansIterations` Lloyd steps, then `emIterations` EM steps
    /// on diagonal Gaussians; variances are floored at `varianceFloor` (MNIST background pixels are constant).
    ///
    /// `data` holds `labels.count` rows of `sampleShape` floats. Deterministic for a given `seed`.
    public static func fit(
        data: [Float], labels: [Int], sampleShape: [Int], numClasses: Int, components: Int,
        kmeansIterations: Int = 10, emIterations: Int = 5, varianceFloor: Double = 0.01,
        seed: UInt64 = 0
    ) throws -> GaussianMixtureField {
        let d = sampleShape.reduce(1, *)
        let m = components
        guard data.count == labels.count * d else {
            throw FlowError("fit: \(data.count) values do not hold \(labels.count) rows of \(d)")
        }
        var weights = [Double]()
        var means = [Double]()
        var variances = [Double]()
        var rng = SplitMix64(seed: seed)
        for c in 0..<numClasses {
            let rows = labels.indices.filter { labels[$0] == c }
            guard rows.count >= m else {
                throw FlowError("fit: class \(c) has \(rows.count) examples, fewer than \(m) components")
            }
            let n = rows.count
            var x = [Double](repeating: 0, count: n * d)
            for (i, r) in rows.enumerated() { for j in 0..<d { x[i * d + j] = Double(data[r * d + j]) } }
            var mu = [Double](repeating: 0, count: m * d)
            var v = [Double](repeating: 1, count: m * d)
            var pi = [Double](repeating: 1 / Double(m), count: m)
            var resp = [Double](repeating: 0, count: n * m)  // hard (k-means) or soft (EM) assignments
            x.withUnsafeMutableBufferPointer { xb in
                mu.withUnsafeMutableBufferPointer { mb in
                    v.withUnsafeMutableBufferPointer { vb in
                        resp.withUnsafeMutableBufferPointer { rb in
                            let x = xb.baseAddress!
                            let mu = mb.baseAddress!
                            let v = vb.baseAddress!
                            let resp = rb.baseAddress!
                            func dist2(_ i: Int, _ k: Int) -> Double {
                                var s = 0.0
                                for j in 0..<d {
                                    let e = x[i * d + j] - mu[k * d + j]
                                    s += e * e
                                }
                                return s
                            }
                            // k-means++ seeding.
                            var best = [Double](repeating: .infinity, count: n)
                            var pick = Int(rng.next() % UInt64(n))
                            for k in 0..<m {
                                for j in 0..<d { mu[k * d + j] = x[pick * d + j] }
                                var total = 0.0
                                for i in 0..<n {
                                    best[i] = min(best[i], dist2(i, k))
                                    total += best[i]
                                }
                                var target = rng.uniform() * total
                                pick = n - 1
                                for i in 0..<n {
                                    target -= best[i]
                                    if target <= 0 {
                                        pick = i
                                        break
                                    }
                                }
                            }
                            // Lloyd iterations as hard responsibilities, then soft EM; both share the M-step below.
                            for iter in 0..<(kmeansIterations + emIterations) {
                                if iter < kmeansIterations {
                                    for i in 0..<n {
                                        var bk = 0
                                        var bd = Double.infinity
                                        for k in 0..<m {
                                            let e = dist2(i, k)
                                            if e < bd {
                                                bd = e
                                                bk = k
                                            }
                                        }
                                        for k in 0..<m { resp[i * m + k] = k == bk ? 1 : 0 }
                                    }
                                } else {
                                    for i in 0..<n {
                                        var top = -Double.infinity
                                        for k in 0..<m {
                                            var q = 0.0
                                            for j in 0..<d {
                                                let e = x[i * d + j] - mu[k * d + j]
                                                let vv = v[k * d + j]
                                                q += e * e / vv + log(vv)
                                            }
                                            let lp = log(max(pi[k], 1e-300)) - 0.5 * q
                                            resp[i * m + k] = lp
                                            top = max(top, lp)
                                        }
                                        var s = 0.0
                                        for k in 0..<m {
                                            let w = exp(resp[i * m + k] - top)
                                            resp[i * m + k] = w
                                            s += w
                                        }
                                        for k in 0..<m { resp[i * m + k] /= s }
                                    }
                                }
                                // M-step: weights, means, floored variances (an empty cluster is re-seeded at a random row).
                                for k in 0..<m {
                                    var nk = 0.0
                                    for i in 0..<n { nk += resp[i * m + k] }
                                    if nk < 1e-9 {
                                        let r = Int(rng.next() % UInt64(n))
                                        for j in 0..<d {
                                            mu[k * d + j] = x[r * d + j]
                                            v[k * d + j] = 1
                                        }
                                        pi[k] = 1 / Double(n)
                                        continue
                                    }
                                    pi[k] = nk / Double(n)
                                    for j in 0..<d {
                                        mu[k * d + j] = 0
                                        v[k * d + j] = 0
                                    }
                                    for i in 0..<n {
                                        let w = resp[i * m + k]
                                        if w == 0 { continue }
                                        for j in 0..<d { mu[k * d + j] += w * x[i * d + j] }
                                    }
                                    for j in 0..<d { mu[k * d + j] /= nk }
                                    for i in 0..<n {
                                        let w = resp[i * m + k]
                                        if w == 0 { continue }
                                        for j in 0..<d {
                                            let e = x[i * d + j] - mu[k * d + j]
                                            v[k * d + j] += w * e * e
                                        }
                                    }
                                    for j in 0..<d { v[k * d + j] = max(v[k * d + j] / nk, varianceFloor) }
                                }
                            }
                        }
                    }
                }
            }
            weights += pi
            means += mu
            variances += v
        }
        return try GaussianMixtureField(
            sampleShape: sampleShape, numClasses: numClasses, componentsPerClass: m,
            weights: weights, means: means, variances: variances)
    }
}
