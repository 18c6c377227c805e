import FlowTensor

/// Settings of the sample-based metrics; every default is documented in README "Statistics and reports".
public struct MetricOptions: Sendable {
    /// k for precision/recall (Kynkäänniemi et al.): 3.
    public var kPR = 3
    /// k for density/coverage (Naeem et al.): 5.
    public var kDC = 5
    /// KID subset size (capped at the smaller set): 1000.
    public var kidSubsetSize = 1000
    /// KID subsets: 100.
    public var kidSubsets = 100
    /// SWD directions: 128.
    public var swdDirections = 128
    /// Seed of KID subsets, SWD directions and the sample reservoir: 0.
    public var seed: UInt64 = 0
    /// Samples per side used by PRDC/KID/SWD (seeded reservoir when larger): 10000.
    public var maxSamples = 10000
    /// Defaults.
    public init() {}
}

/// Every metric of a comparison; nil when the inputs do not allow it (e.g. no samples).
public struct EvaluationMetrics: Sendable {
    /// Fréchet distance with diagnostics.
    public var fd: FrechetResult
    /// Precision/recall/density/coverage (both sides need samples).
    public var prdc: PRDCResult?
    /// Kernel Inception Distance on the given features.
    public var kid: KIDResult?
    /// Sliced Wasserstein distance (SW₁).
    public var swd: Double?
    /// Per-class FD for classes present on both sides with ≥ 2 samples each (class id → FD).
    public var perClassFD: [Int: Double] = [:]
    /// Samples used per side for PRDC/KID/SWD.
    public var samplesUsed: (generated: Int, reference: Int) = (0, 0)
}

/// Computes every metric of a generated set against a reference set.
public enum Evaluation {
    /// Compares `generated` against `reference`: FD always; PRDC, KID, SWD when both hold samples.
    public static func compare(
        generated a: StatsSet, reference b: StatsSet, options o: MetricOptions = MetricOptions()
    ) throws -> EvaluationMetrics {
        guard a.dimension == b.dimension else {
            throw FlowError(
                "\(a.source) has dimension \(a.dimension) but \(b.source) has \(b.dimension); compare statistics of the same feature space"
            )
        }
        let fd = try Frechet.distance(mu1: a.mean, sigma1: a.covariance, mu2: b.mean, sigma2: b.covariance)
        var r = EvaluationMetrics(fd: fd)
        for (c, ma) in a.classMoments {
            guard let mb = b.classMoments[c], ma.count >= 2, mb.count >= 2 else { continue }
            r.perClassFD[c] = try Frechet.distance(ma, mb).distance
        }
        guard let sa = a.samples, let sb = b.samples else { return r }
        let d = a.dimension
        let xa = subsample(sa, d, o.maxSamples, o.seed)
        let xb = subsample(sb, d, o.maxSamples, o.seed)
        r.samplesUsed = (xa.count / d, xb.count / d)
        let na = xa.count / d
        let nb = xb.count / d
        if na > o.kPR && nb > Swift.max(o.kPR, o.kDC) {
            r.prdc = try PRDC.compute(real: xb, fake: xa, dimension: d, kPR: o.kPR, kDC: o.kDC)
        }
        if Swift.min(na, nb) >= 2 {
            r.kid = try KID.compute(
                real: xb, fake: xa, dimension: d, subsetSize: o.kidSubsetSize, subsets: o.kidSubsets, seed: o.seed)
        }
        r.swd = try SWD.compute(xa, xb, dimension: d, directions: o.swdDirections, seed: o.seed)
        return r
    }

    /// All rows as float64 when ≤ `limit`, else the seeded reservoir of `limit` rows (ascending index).
    static func subsample(_ s: [Float], _ d: Int, _ limit: Int, _ seed: UInt64) -> [Double] {
        let n = s.count / d
        if n <= limit { return s.map { Double($0) } }
        var r = Reservoir(capacity: limit, dimension: d, seed: seed)
        s.withUnsafeBufferPointer { r.add(firstIndex: 0, rows: n, vectors: $0.baseAddress!, labels: nil) }
        return r.samples().data.map { Double($0) }
    }
}
