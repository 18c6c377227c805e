import FlowTensor

/// A seeded, order-independent sample of up to `capacity` vectors from a stream.
///
/// Each vector's priority is `StatsRandom.hash(seed, globalIndex)`; the reservoir keeps the `capacity`
/// smallest priorities. Merging shards keeps the smallest of the union, so the kept set (and its
/// order: ascending global index) depends only on (seed, indices in the set), not on how the set
/// was split across workers or in what order shards arrive.
public struct Reservoir: Sendable {
    /// Maximum vectors kept.
    public let capacity: Int
    /// Vector dimension D.
    public let dimension: Int
    /// Seed of the priority hash.
    public let seed: UInt64
    var keys: [UInt64] = []
    var indices: [Int] = []
    var labels: [Int32] = []
    var data: [Float] = []
    var threshold: UInt64 = .max

    /// Empty reservoir.
    public init(capacity: Int, dimension: Int, seed: UInt64) {
        precondition(capacity > 0 && dimension > 0)
        self.capacity = capacity
        self.dimension = dimension
        self.seed = seed
    }

    /// Offers one vector with its global index and label (−1 when unlabelled).
    public mutating func add(index: Int, label: Int32, vector: UnsafePointer<Float>) {
        let k = StatsRandom.hash(seed: seed, index: index)
        if keys.count >= capacity && k >= threshold { return }
        keys.append(k)
        indices.append(index)
        labels.append(label)
        data.append(contentsOf: UnsafeBufferPointer(start: vector, count: dimension))
        if keys.count >= 2 * capacity { compact() }
    }

    /// Offers `rows` consecutive vectors with global indices firstIndex…; `labels` may be nil.
    public mutating func add(firstIndex: Int, rows: Int, vectors: UnsafePointer<Float>, labels: UnsafePointer<Int32>?) {
        for r in 0..<rows { add(index: firstIndex + r, label: labels?[r] ?? -1, vector: vectors + r * dimension) }
    }

    /// Merges another reservoir built with the same seed, capacity and dimension.
    public mutating func merge(_ other: Reservoir) throws {
        guard other.seed == seed, other.capacity == capacity, other.dimension == dimension else {
            throw FlowError(
                "reservoir: cannot merge (seed \(other.seed), capacity \(other.capacity), D \(other.dimension)) into (\(seed), \(capacity), \(dimension)); use the same settings on every worker"
            )
        }
        for i in 0..<other.keys.count {
            other.data.withUnsafeBufferPointer {
                add(index: other.indices[i], label: other.labels[i], vector: $0.baseAddress! + i * dimension)
            }
        }
    }

    /// Keeps the `capacity` smallest keys, ordered by global index.
    mutating func compact() {
        var order = Array(0..<keys.count)
        order.sort { keys[$0] < keys[$1] }
        if order.count > capacity { order.removeLast(order.count - capacity) }
        if order.count == capacity { threshold = keys[order[capacity - 1]] }
        order.sort { indices[$0] < indices[$1] }
        let d = dimension
        var nd = [Float]()
        nd.reserveCapacity(order.count * d)
        for o in order { nd.append(contentsOf: data[(o * d)..<((o + 1) * d)]) }
        keys = order.map { keys[$0] }
        indices = order.map { indices[$0] }
        labels = order.map { labels[$0] }
        data = nd
    }

    /// The kept samples: (N, D) row-major floats, their global indices and labels, ascending by index.
    public mutating func samples() -> (rows: Int, data: [Float], indices: [Int], labels: [Int32]) {
        compact()
        return (keys.count, data, indices, labels)
    }
}
