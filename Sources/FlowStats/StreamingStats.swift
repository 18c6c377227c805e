import FlowTensor

/// Everything a worker or aggregator accumulates about a set as it streams in: global and per-class
/// moments plus the seeded reservoir, in one feature space. Mergeable and shippable as `.npz` bytes.
///
/// Vectors are added in the feature space the caller chose (apply a `FeatureMap` first if any). All
/// shards of one set must use the same `shift`, reservoir capacity and seed so merging is exact
/// addition and the reservoir is independent of the sharding.
public struct StreamingStats: Sendable {
    /// Global moments.
    public private(set) var global: Moments
    /// Per-class moments (labels ≥ 0; label −1 means unlabelled and is only counted globally).
    public private(set) var perClass: [Int: Moments] = [:]
    /// Seeded sample reservoir.
    public private(set) var reservoir: Reservoir

    /// Empty statistics of `dimension`-vectors about `shift` (zero when nil).
    public init(dimension: Int, shift: [Double]? = nil, reservoirCapacity: Int = 10000, seed: UInt64 = 0) {
        global = Moments(dimension: dimension, shift: shift)
        reservoir = Reservoir(capacity: Swift.max(1, reservoirCapacity), dimension: dimension, seed: seed)
    }

    /// Vector dimension.
    public var dimension: Int { global.dimension }

    /// Adds `rows` vectors with global indices firstIndex… and optional labels.
    public mutating func add(
        firstIndex: Int, rows: Int, vectors: UnsafePointer<Float>, labels: UnsafePointer<Int32>?
    ) throws {
        let d = dimension
        try global.add(vectors, rows: rows)
        reservoir.add(firstIndex: firstIndex, rows: rows, vectors: vectors, labels: labels)
        guard let labels = labels else { return }
        var byClass: [Int: [Int]] = [:]
        for r in 0..<rows where labels[r] >= 0 { byClass[Int(labels[r]), default: []].append(r) }
        for (c, idx) in byClass {
            var block = [Float](repeating: 0, count: idx.count * d)
            for (k, r) in idx.enumerated() { for j in 0..<d { block[k * d + j] = vectors[r * d + j] } }
            var m = perClass[c] ?? Moments(dimension: d, shift: global.shift)
            try m.add(block)
            perClass[c] = m
        }
    }

    /// Adds another shard's statistics (same dimension, reservoir settings; same shift for bit-exact merges).
    public mutating func merge(_ o: StreamingStats) throws {
        try global.merge(o.global)
        for (c, m) in o.perClass {
            var mine = perClass[c] ?? Moments(dimension: dimension, shift: global.shift)
            try mine.merge(m)
            perClass[c] = mine
        }
        try reservoir.merge(o.reservoir)
    }

    /// The statistics as a `StatsSet` (reservoir samples attached) for `Evaluation.compare` or writing.
    public func statsSet(source: String) throws -> StatsSet {
        var r = reservoir
        let s = r.samples()
        let anyLabel = s.labels.contains { $0 >= 0 }
        return try StatsSet(
            moments: global, classMoments: perClass, samples: s.rows > 0 ? s.data : nil,
            labels: anyLabel ? s.labels : nil, source: source)
    }

    /// `.npz` bytes: the StatsSet keys plus `reservoir_indices`, `reservoir_labels`, `reservoir_capacity`, `reservoir_seed`.
    public func encode() throws -> [UInt8] {
        var r = reservoir
        let s = r.samples()
        func i64(_ v: [Int64]) -> NPYArray {
            NPYArray(dtype: .int64, shape: [v.count], bytes: v.withUnsafeBytes { [UInt8]($0) })
        }
        func f64(_ v: [Double], _ shape: [Int]) -> NPYArray {
            NPYArray(dtype: .float64, shape: shape, bytes: v.withUnsafeBytes { [UInt8]($0) })
        }
        let d = dimension
        var arrays: [(name: String, array: NPYArray)] = [
            ("count", i64([Int64(global.count)])), ("shift", f64(global.shift, [d])), ("sum", f64(global.sum, [d])),
            ("outer", f64(global.outer, [d, d])),
            ("reservoir_capacity", i64([Int64(reservoir.capacity)])),
            ("reservoir_seed", i64([Int64(bitPattern: reservoir.seed)])),
            ("reservoir_indices", i64(s.indices.map { Int64($0) })),
            ("reservoir_labels", i64(s.labels.map { Int64($0) })),
            (
                "reservoir_samples",
                NPYArray(dtype: .float32, shape: [s.rows, d], bytes: s.data.withUnsafeBytes { [UInt8]($0) })
            ),
        ]
        let ids = perClass.keys.sorted()
        if !ids.isEmpty {
            var cs: [Double] = []
            var co: [Double] = []
            for c in ids {
                let m = perClass[c]!.shift == global.shift ? perClass[c]! : perClass[c]!.recentered(to: global.shift)
                cs += m.sum
                co += m.outer
            }
            arrays += [
                ("class_ids", i64(ids.map { Int64($0) })), ("class_count", i64(ids.map { Int64(perClass[$0]!.count) })),
                ("class_sum", f64(cs, [ids.count, d])), ("class_outer", f64(co, [ids.count, d, d])),
            ]
        }
        return try NPZ.encode(arrays: arrays)
    }

    /// Decodes `encode()` output; `source` names it in errors.
    public static func decode(_ bytes: [UInt8], source: String) throws -> StreamingStats {
        let z = try NPZ.decode(bytes, source: source)
        func need(_ k: String) throws -> NPYArray {
            guard let a = z[k] else {
                throw FlowError("\(source): streaming statistics lack '\(k)'; produce them with StreamingStats.encode")
            }
            return a
        }
        let sum = try need("sum")
        let d = sum.count
        let g = try Moments(
            dimension: d, count: Int(try need("count").int64s().first ?? -1), shift: try need("shift").doubles(),
            sum: sum.doubles(), outer: try need("outer").doubles())
        let cap = Int(try need("reservoir_capacity").int64s().first ?? 1)
        let seed = UInt64(bitPattern: try need("reservoir_seed").int64s().first ?? 0)
        var s = StreamingStats(dimension: d, shift: g.shift, reservoirCapacity: cap, seed: seed)
        s.global = g
        let idx = try need("reservoir_indices").int64s()
        let lab = try need("reservoir_labels").int64s()
        let data = try need("reservoir_samples").floats()
        guard idx.count == lab.count, data.count == idx.count * d else {
            throw FlowError(
                "\(source): reservoir arrays disagree (\(idx.count) indices, \(lab.count) labels, \(data.count) values for D = \(d))"
            )
        }
        data.withUnsafeBufferPointer { p in
            for i in 0..<idx.count {
                s.reservoir.add(
                    index: Int(idx[i]), label: Int32(truncatingIfNeeded: lab[i]), vector: p.baseAddress! + i * d)
            }
        }
        if let ids = z["class_ids"] {
            let idv = try ids.int64s()
            let cnt = try need("class_count").int64s()
            let cs = try need("class_sum").doubles()
            let co = try need("class_outer").doubles()
            guard cnt.count == idv.count, cs.count == idv.count * d, co.count == idv.count * d * d else {
                throw FlowError("\(source): per-class arrays disagree with \(idv.count) classes of dimension \(d)")
            }
            for (i, c) in idv.enumerated() {
                s.perClass[Int(c)] = try Moments(
                    dimension: d, count: Int(cnt[i]), shift: g.shift,
                    sum: Array(cs[(i * d)..<((i + 1) * d)]), outer: Array(co[(i * d * d)..<((i + 1) * d * d)]))
            }
        }
        return s
    }
}
