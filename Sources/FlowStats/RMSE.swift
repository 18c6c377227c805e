import FlowTensor

/// Per-sample RMSE between a run and a reference run of the same seeds (same global indices, same order).
public struct RMSEResult: Sendable, Equatable {
    /// Mean over samples of √(mean over coordinates of (a − b)²).
    public var mean: Double
    /// Largest per-sample RMSE.
    public var max: Double
    /// Number of samples compared.
    public var samples: Int
}

/// RMSE computation.
public enum RMSE {
    /// Per-sample RMSE of `a` against `reference`, both (n × d) row-major.
    public static func compute(_ a: [Float], reference b: [Float], dimension d: Int) throws -> RMSEResult {
        guard d > 0, a.count == b.count, a.count % d == 0, !a.isEmpty else {
            throw FlowError(
                "RMSE: runs differ in size (\(a.count) vs \(b.count) values, D \(d)); compare runs of the same seeds and indices"
            )
        }
        let n = a.count / d
        var sum = 0.0
        var mx = 0.0
        for i in 0..<n {
            var s = 0.0
            for k in 0..<d {
                let t = Double(a[i * d + k]) - Double(b[i * d + k])
                s += t * t
            }
            let r = (s / Double(d)).squareRoot()
            sum += r
            mx = Swift.max(mx, r)
        }
        return RMSEResult(mean: sum / Double(n), max: mx, samples: n)
    }
}
