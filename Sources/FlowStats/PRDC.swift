import FlowTensor

/// Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020) in float64.
///
/// With Euclidean distances and r_k(x) the distance from x to its k-th nearest neighbour in its own
/// set (as the `prdc` package computes it, strict `<` comparisons):
/// precision = fraction of generated samples within r_k of some reference sample;
/// recall = fraction of reference samples within r_k of some generated sample (radii from the generated set);
/// density = (1/k) · mean over generated samples of the number of reference balls containing them;
/// coverage = fraction of reference samples whose nearest generated sample lies within their r_k.
/// Defaults: k = 3 for precision/recall, k = 5 for density/coverage.
public struct PRDCResult: Sendable, Equatable {
    /// The four metrics, each in [0, 1] except density (≥ 0, mean 1 for matching distributions).
    public var precision: Double, recall: Double, density: Double, coverage: Double
}

/// PRDC computation.
public enum PRDC {
    /// Computes the four metrics for generated `fake` (m × d) against `real` (n × d), row-major float64.
    public static func compute(
        real: [Double], fake: [Double], dimension d: Int, kPR: Int = 3, kDC: Int = 5
    ) throws -> PRDCResult {
        let n = real.count / d
        let m = fake.count / d
        guard d > 0, real.count == n * d, fake.count == m * d else {
            throw FlowError("PRDC: sample arrays are not whole \(d)-vectors")
        }
        let kmax = Swift.max(kPR, kDC)
        guard kPR >= 1, kDC >= 1, n > kmax, m > kPR else {
            throw FlowError(
                "PRDC: need more than k samples on each side (reference \(n), generated \(m), k = \(kPR)/\(kDC)); use more samples or a smaller k"
            )
        }
        let realRadii = nearestNeighbourRadii(real, n: n, d: d, ks: [kPR, kDC])
        let realPR = realRadii[0]
        let realDC = realRadii[1]
        let fakePR = nearestNeighbourRadii(fake, n: m, d: d, k: kPR)
        // Rows = reference samples, columns = generated samples.
        let fakeInReal = UnsafeMutableBufferPointer<Bool>.allocate(capacity: m)  // precision
        let ballCount = UnsafeMutableBufferPointer<Int>.allocate(capacity: m)  // density
        let fakeRadius = UnsafeMutableBufferPointer<Double>.allocate(capacity: m)
        defer {
            fakeInReal.deallocate()
            ballCount.deallocate()
            fakeRadius.deallocate()
        }
        _ = fakeInReal.initialize(from: repeatElement(false, count: m))
        _ = ballCount.initialize(from: repeatElement(0, count: m))
        _ = fakeRadius.initialize(from: fakePR)
        var recalled = 0
        var covered = 0
        PairwiseDistances(a: real, n: n, b: fake, m: m, d: d).forEachBlock { first, rows, dist in
            for r in 0..<rows {
                let i = first + r
                let rp = realPR[i]
                let rd = realDC[i]
                var minD = Double.infinity
                var rec = false
                let row = dist + r * m
                for j in 0..<m {
                    let x = row[j]
                    if x < rp { fakeInReal[j] = true }
                    if x < rd { ballCount[j] += 1 }
                    if x < fakeRadius[j] { rec = true }
                    if x < minD { minD = x }
                }
                if rec { recalled += 1 }
                if minD < rd { covered += 1 }
            }
        }
        let precision = Double(fakeInReal.filter { $0 }.count) / Double(m)
        let density = Double(ballCount.reduce(0, +)) / Double(kDC) / Double(m)
        return PRDCResult(
            precision: precision, recall: Double(recalled) / Double(n), density: density,
            coverage: Double(covered) / Double(n))
    }
}
