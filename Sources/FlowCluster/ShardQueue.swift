/// The pending shards in lease order, front first, with O(1) amortized push to the front, removal of any shard and
/// membership test (the scheduler's queue: re-queued shards go to the front, leases take from the front, a commit
/// removes its shard wherever it is).
///
/// Entries live in an array whose end is the queue's front. Removing a shard that is not at the front leaves a stale
/// entry behind (its shard's `slot` no longer points at it); iteration skips stale entries and the front is kept
/// live, so each stale entry is dropped once when it surfaces.
struct ShardQueue: Sequence {
    /// Entries, the queue's front last; stale unless `slot[entries[i]] == i`.
    private var entries: [Int] = []
    /// Index in `entries` of each queued shard's entry; -1 when the shard is not queued.
    private var slot: [Int]
    /// Shards queued.
    private(set) var count = 0

    /// An empty queue of shard ids `0..<shardCount`.
    init(shardCount: Int) { slot = Array(repeating: -1, count: shardCount) }

    /// `shards` (distinct, each in `0..<shardCount`) queued in this order, the first at the front.
    init(shardCount: Int, front shards: [Int]) {
        self.init(shardCount: shardCount)
        for s in shards.reversed() { pushFront(s) }
    }

    var isEmpty: Bool { count == 0 }

    /// The shard at the front.
    var first: Int? { entries.last }

    func contains(_ shard: Int) -> Bool { slot[shard] >= 0 }

    /// Queues `shard` at the front (moving it there if it is already queued).
    mutating func pushFront(_ shard: Int) {
        if slot[shard] < 0 { count += 1 }
        slot[shard] = entries.count
        entries.append(shard)
    }

    /// Takes `shard` out of the queue if it is queued.
    mutating func remove(_ shard: Int) {
        guard slot[shard] >= 0 else { return }
        slot[shard] = -1
        count -= 1
        while let s = entries.last, slot[s] != entries.count - 1 { entries.removeLast() }
    }

    /// The queued shards among `shards`, front first.
    func frontFirst(_ shards: some Sequence<Int>) -> [Int] {
        shards.filter { $0 >= 0 && $0 < slot.count && slot[$0] >= 0 }.sorted { slot[$0] > slot[$1] }
    }

    /// Iterates front first.
    struct Iterator: IteratorProtocol {
        let queue: ShardQueue
        var index: Int

        mutating func next() -> Int? {
            while index >= 0 {
                let s = queue.entries[index]
                index -= 1
                if queue.slot[s] == index + 1 { return s }
            }
            return nil
        }
    }

    func makeIterator() -> Iterator { Iterator(queue: self, index: entries.count - 1) }

    var underestimatedCount: Int { count }
}
