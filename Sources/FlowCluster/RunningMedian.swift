/// The median of a growing list of numbers in O(log n) per value: `sorted[count / 2]` of every value added so far
/// (the backup-lease threshold follows the median shard time), without sorting on every read.
///
/// The smaller half sits in a max-heap (`lower`, `count / 2` values) and the larger half in a min-heap (`upper`,
/// the rest), so the median is the top of `upper`.
struct RunningMedian {
    private var lower = BinaryHeap(above: >)
    private var upper = BinaryHeap(above: <)

    /// Values added.
    var count: Int { lower.count + upper.count }

    /// `sorted[count / 2]` of the values added; nil before the first.
    var median: Double? { upper.top }

    mutating func add(_ x: Double) {
        if let m = upper.top, x >= m { upper.push(x) } else { lower.push(x) }
        // Rebalance to lower.count == count / 2.
        if lower.count > count / 2 { upper.push(lower.pop()!) }
        if lower.count < count / 2 { lower.push(upper.pop()!) }
    }
}

/// An array-backed binary heap of doubles; `above(a, b)`: `a` belongs nearer the top than `b`.
struct BinaryHeap {
    private var items: [Double] = []
    private let above: (Double, Double) -> Bool

    init(above: @escaping (Double, Double) -> Bool) { self.above = above }

    var count: Int { items.count }
    var top: Double? { items.first }

    mutating func push(_ x: Double) {
        items.append(x)
        var i = items.count - 1
        while i > 0, above(items[i], items[(i - 1) / 2]) {
            items.swapAt(i, (i - 1) / 2)
            i = (i - 1) / 2
        }
    }

    mutating func pop() -> Double? {
        guard let t = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return t }
        items[0] = last
        var i = 0
        while true {
            var best = i
            let left = 2 * i + 1
            let right = left + 1
            if left < items.count && above(items[left], items[best]) { best = left }
            if right < items.count && above(items[right], items[best]) { best = right }
            if best == i { return t }
            items.swapAt(i, best)
            i = best
        }
    }
}
