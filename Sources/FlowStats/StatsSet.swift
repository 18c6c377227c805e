import FlowTensor

/// One side of a comparison: mean/covariance (from sums or given), optional per-class moments, optional samples.
///
/// Files: `.npy` (N, …) samples; `.npz` with `mu`/`sigma` (ADM, clean-fid) and/or samples under `arr_0`
/// or `samples` (labels under `labels` or `arr_1`), and — as written by `flowturbo stats reference` —
/// the mergeable sums `count`, `shift`, `sum`, `outer` plus per-class `class_ids`, `class_count`,
/// `class_sum`, `class_outer` (same shift). Samples of shape (N, …) are flattened to (N, D).
public struct StatsSet {
    /// Feature dimension D.
    public var dimension: Int
    /// Mean (D).
    public var mean: [Double]
    /// Covariance (D×D, ddof 1).
    public var covariance: [Double]
    /// Mergeable sums when available (computed from samples or read from the file).
    public var moments: Moments?
    /// Per-class mergeable sums (class id → moments).
    public var classMoments: [Int: Moments] = [:]
    /// Samples (rows × D, row-major) when the input holds them.
    public var samples: [Float]?
    /// Labels of `samples` when known.
    public var labels: [Int32]?
    /// File or description, for messages.
    public var source: String
    /// Number of vectors behind the statistics.
    public var count: Int

    /// Number of sample rows (0 without samples).
    public var sampleRows: Int { (samples?.count ?? 0) / dimension }

    /// Statistics of a (rows × dimension) sample matrix, with per-class moments when labels are given.
    public init(samples: [Float], dimension: Int, labels: [Int32]?, source: String, keepSamples: Bool = true) throws {
        guard dimension > 0, !samples.isEmpty, samples.count % dimension == 0 else {
            throw FlowError(
                "\(source): no samples, or \(samples.count) values is not a whole number of \(dimension)-vectors")
        }
        let rows = samples.count / dimension
        if let l = labels, l.count != rows {
            throw FlowError("\(source): \(l.count) labels for \(rows) samples; labels must have shape (N,)")
        }
        guard rows >= 2 else { throw FlowError("\(source): need at least 2 samples for a covariance, got \(rows)") }
        // Shift by the first sample: cheap, exact to reproduce, and removes most of the mean before squaring.
        let shift = samples[0..<dimension].map { Double($0) }
        var m = Moments(dimension: dimension, shift: shift)
        try samples.withUnsafeBufferPointer { p in
            for i in 0..<(rows * dimension) where !p[i].isFinite {
                throw FlowError(
                    "\(source): sample \(i / dimension) has a NaN or infinite value at coordinate \(i % dimension); fix or drop it"
                )
            }
            try m.add(p.baseAddress!, rows: rows)
        }
        var cm: [Int: Moments] = [:]
        if let l = labels {
            var byClass: [Int: [Int]] = [:]
            for (i, c) in l.enumerated() { byClass[Int(c), default: []].append(i) }
            for (c, idx) in byClass {
                var mc = Moments(dimension: dimension, shift: shift)
                var block = [Float]()
                block.reserveCapacity(idx.count * dimension)
                for i in idx { block.append(contentsOf: samples[(i * dimension)..<((i + 1) * dimension)]) }
                try mc.add(block)
                cm[c] = mc
            }
        }
        self.dimension = dimension
        self.moments = m
        self.mean = m.mean
        self.covariance = try m.covariance()
        self.classMoments = cm
        self.samples = keepSamples ? samples : nil
        self.labels = keepSamples ? labels : nil
        self.source = source
        self.count = rows
    }

    /// From mergeable moments (and optional per-class moments and samples).
    public init(
        moments: Moments, classMoments: [Int: Moments] = [:], samples: [Float]? = nil, labels: [Int32]? = nil,
        source: String
    ) throws {
        dimension = moments.dimension
        self.moments = moments
        mean = moments.mean
        covariance = try moments.covariance()
        self.classMoments = classMoments
        self.samples = samples
        self.labels = labels
        self.source = source
        count = moments.count
    }

    /// Loads `.npy` or `.npz` (see the type's documentation); bad keys, shapes or NaN give one-line errors.
    public static func load(_ path: String) throws -> StatsSet {
        if path.hasSuffix(".npy") {
            let a = try NPY.read(path)
            return try fromSampleArray(a, labels: nil, source: path)
        }
        let z = try NPZ.read(path)
        let sampleKey = ["samples", "arr_0"].first { z[$0] != nil }
        let labelArray = z["labels"] ?? (sampleKey == "arr_0" ? z["arr_1"] : nil)
        if let c = z["count"], let s = z["sum"], let o = z["outer"], let sh = z["shift"] {
            let d = s.count
            guard c.count == 1, s.shape == [d], o.shape == [d, d], sh.shape == [d] else {
                throw FlowError(
                    "\(path): count/shift/sum/outer have shapes \(c.shape)/\(sh.shape)/\(s.shape)/\(o.shape); expected ()/(D)/(D)/(D, D)"
                )
            }
            let m = try Moments(
                dimension: d, count: Int(c.doubles()[0]), shift: sh.doubles(), sum: s.doubles(), outer: o.doubles())
            var cm: [Int: Moments] = [:]
            if let ids = z["class_ids"], let cc = z["class_count"], let cs = z["class_sum"], let co = z["class_outer"] {
                let k = ids.count
                guard cc.count == k, cs.shape == [k, d], co.shape == [k, d, d] else {
                    throw FlowError(
                        "\(path): per-class arrays have shapes \(ids.shape)/\(cc.shape)/\(cs.shape)/\(co.shape); expected (K)/(K)/(K, D)/(K, D, D)"
                    )
                }
                let idv = try ids.int64s()
                let cnt = cc.doubles()
                let sv = cs.doubles()
                let ov = co.doubles()
                for i in 0..<k {
                    cm[Int(idv[i])] = try Moments(
                        dimension: d, count: Int(cnt[i]), shift: m.shift,
                        sum: Array(sv[(i * d)..<((i + 1) * d)]), outer: Array(ov[(i * d * d)..<((i + 1) * d * d)]))
                }
            }
            var set = try StatsSet(moments: m, classMoments: cm, source: path)
            if let sk = sampleKey {
                let s = try fromSampleArray(z[sk]!, labels: labelArray, source: "\(path):\(sk)")
                set.samples = s.samples
                set.labels = s.labels
            }
            guard set.sampleRows == 0 || set.samples!.count % d == 0 else {
                throw FlowError("\(path): samples do not match dimension \(d)")
            }
            return set
        }
        if let mu = z["mu"], let sigma = z["sigma"] {
            let d = mu.count
            guard mu.shape.count == 1, sigma.shape == [d, d] else {
                throw FlowError("\(path): mu has shape \(mu.shape) and sigma \(sigma.shape); expected (D,) and (D, D)")
            }
            let mv = mu.doubles()
            let sv = sigma.doubles()
            guard mv.allSatisfy({ $0.isFinite }), sv.allSatisfy({ $0.isFinite }) else {
                throw FlowError("\(path): mu or sigma contains NaN or infinity; recompute the statistics")
            }
            var set: StatsSet
            if let sk = sampleKey {
                set = try fromSampleArray(z[sk]!, labels: labelArray, source: "\(path):\(sk)")
                guard set.dimension == d else {
                    throw FlowError(
                        "\(path): samples have dimension \(set.dimension) but mu has \(d); they must describe the same features"
                    )
                }
            } else {
                set = StatsSet(dimension: d, mean: mv, covariance: sv, source: path, count: 0)
            }
            set.mean = mv
            set.covariance = sv
            set.moments = nil
            set.source = path
            return set
        }
        if let sk = sampleKey { return try fromSampleArray(z[sk]!, labels: labelArray, source: "\(path):\(sk)") }
        throw FlowError(
            "\(path): no statistics found (keys: \(z.keys.sorted().joined(separator: ", "))); expected mu and sigma, count/shift/sum/outer, or samples in arr_0"
        )
    }

    init(dimension: Int, mean: [Double], covariance: [Double], source: String, count: Int) {
        self.dimension = dimension
        self.mean = mean
        self.covariance = covariance
        self.source = source
        self.count = count
    }

    static func fromSampleArray(_ a: NPYArray, labels: NPYArray?, source: String) throws -> StatsSet {
        guard a.shape.count >= 1, a.shape[0] >= 2 else {
            throw FlowError("\(source): samples must have shape (N, …) with N ≥ 2, got \(a.shape)")
        }  // (N,) is N scalars, i.e. (N, 1), as np.cov treats it
        let n = a.shape[0]
        let d = a.count / Swift.max(n, 1)
        guard d > 0 else { throw FlowError("\(source): samples of shape \(a.shape) have no features") }
        var lab: [Int32]? = nil
        if let l = labels {
            guard l.count == n, l.shape.count == 1 else {
                throw FlowError("\(source): labels have shape \(l.shape) for \(n) samples; expected (\(n),)")
            }
            lab = try l.int64s().map { Int32(truncatingIfNeeded: $0) }
        }
        return try StatsSet(samples: a.floats(), dimension: d, labels: lab, source: source)
    }

    /// Writes the `.npz` read by `load`: mu, sigma, the mergeable sums, per-class sums, and samples/labels when kept.
    public func write(_ path: String, extra: [(name: String, array: NPYArray)] = []) throws {
        guard let m = moments else {
            throw FlowError("\(source): only mu/sigma are known; cannot write mergeable statistics")
        }
        func f64(_ v: [Double], _ shape: [Int]) -> NPYArray {
            NPYArray(dtype: .float64, shape: shape, bytes: v.withUnsafeBytes { [UInt8]($0) })
        }
        func i64(_ v: [Int64], _ shape: [Int]) -> NPYArray {
            NPYArray(dtype: .int64, shape: shape, bytes: v.withUnsafeBytes { [UInt8]($0) })
        }
        let d = dimension
        var arrays: [(name: String, array: NPYArray)] = [
            ("mu", f64(mean, [d])), ("sigma", f64(covariance, [d, d])),
            ("count", i64([Int64(m.count)], [])), ("shift", f64(m.shift, [d])), ("sum", f64(m.sum, [d])),
            ("outer", f64(m.outer, [d, d])),
        ]
        if !classMoments.isEmpty {
            let ids = classMoments.keys.sorted()
            var cs: [Double] = []
            var co: [Double] = []
            for c in ids {
                let mc =
                    classMoments[c]!.shift == m.shift ? classMoments[c]! : classMoments[c]!.recentered(to: m.shift)
                cs += mc.sum
                co += mc.outer
            }
            arrays += [
                ("class_ids", i64(ids.map { Int64($0) }, [ids.count])),
                ("class_count", i64(ids.map { Int64(classMoments[$0]!.count) }, [ids.count])),
                ("class_sum", f64(cs, [ids.count, d])), ("class_outer", f64(co, [ids.count, d, d])),
            ]
        }
        if let s = samples {
            arrays.append(
                (
                    "samples",
                    NPYArray(dtype: .float32, shape: [s.count / d, d], bytes: s.withUnsafeBytes { [UInt8]($0) })
                ))
            if let l = labels { arrays.append(("labels", i64(l.map { Int64($0) }, [l.count]))) }
        }
        try NPZ.write(path, arrays: arrays + extra)
    }
}
