import FlowTensor

/// Part I of N of a coordinator-free run: the shards s with s mod N == I of the run's global shard layout.
///
/// I is 0-based (0..<N), like Kubernetes' `JOB_COMPLETION_INDEX` and a Slurm array `--array=0-(N-1)`; N/N is taken as
/// 0/N, so 1-based numbering (1/N … N/N, e.g. `--array=1-N`) names the same N parts and merges to the same run.
/// Round-robin rather than contiguous blocks: the cost of a shard can drift with its index (prompt files
/// sorted by length or category, a short last shard), and interleaving gives every part the same mix.
public struct RunPart: Equatable, Sendable, CustomStringConvertible {
    /// 0-based part index.
    public let index: Int
    /// Number of parts.
    public let count: Int

    /// Parses "I/N" (0 ≤ I ≤ N, N/N meaning 0/N); the error names the 0-based convention.
    public init(parsing text: String) throws {
        let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count == 2, let i = Int(pieces[0]), let n = Int(pieces[1]) else {
            throw FlowError("part \"\(text)\": expected I/N with a 0-based index, e.g. 0/3, 1/3, 2/3")
        }
        try self.init(index: i, count: n)
    }

    /// Part `index` of `count`.
    public init(index: Int, count: Int) throws {
        guard count >= 1, count <= Bounds.maxSamples else {
            throw FlowError("part \(index)/\(count): the number of parts must be at least 1")
        }
        guard index >= 0, index <= count else {
            throw FlowError(
                "part \(index)/\(count): the index is 0-based (0 to \(count - 1); \(count)/\(count) "
                    + "is read as 0/\(count) so 1-based numbering works too)")
        }
        self.index = index % count
        self.count = count
    }

    /// "I/N", as written in the journal header.
    public var description: String { "\(index)/\(count)" }

    /// True when shard `s` belongs to this part.
    public func owns(shard s: Int) -> Bool { s % count == index }

    /// Shard ids of this part out of `shardCount`.
    public func shards(of shardCount: Int) -> [Int] { Array(stride(from: index, to: shardCount, by: count)) }
}
