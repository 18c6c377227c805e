import FlowTensor

/// The finite set of training captions: for every spec of every category a seeded choice of up to
/// `perSpec[category]` distinct phrasings, so the pool is balanced over digits and positions within a category,
/// and a training example draws a category (uniformly unless weighted), then a caption of it uniformly.
public struct QuadCaptionPool: Sendable {
    public struct Entry: Hashable, Sendable {
        public var caption: String
        public var spec: QuadSpec
    }

    /// Phrasings kept per spec (about 4,700 captions in all with the defaults).
    public static let defaultPerSpec: [QuadCategory: Int] = [
        .single: 24, .two: 2, .column: 6, .row: 6, .count: 4, .empty: 8,
    ]

    public let entries: [Entry]
    /// Entry indices of each category, in `QuadCategory.allCases` order.
    public let byCategory: [[Int]]

    public init(seed: UInt64 = 0, perSpec: [QuadCategory: Int] = defaultPerSpec) {
        var entries: [Entry] = []
        var by: [[Int]] = []
        var seen = Set<String>()
        for (ci, cat) in QuadCategory.allCases.enumerated() {
            var idx: [Int] = []
            for (si, spec) in QuadCaption.specs(cat).enumerated() {
                var caps = QuadCaption.captions(for: spec)
                var rng = stepRandom(seed: seed, step: si, stream: UInt64(ci + 1))
                if caps.count > 1 {
                    for i in stride(from: caps.count - 1, to: 0, by: -1) {
                        caps.swapAt(i, Int(rng.next() % UInt64(i + 1)))
                    }
                }
                for c in caps.prefix(perSpec[cat] ?? 1) where seen.insert(c).inserted {
                    idx.append(entries.count)
                    entries.append(Entry(caption: c, spec: spec))
                }
            }
            by.append(idx)
        }
        self.entries = entries
        byCategory = by
    }

    /// The captions in entry order.
    public var captions: [String] { entries.map(\.caption) }

    /// A random category (`u = rng.next() % total`, the category whose cumulative weight range holds u), then a
    /// uniformly random entry of it. With all weights 1 this is the uniform draw `rng.next() % 6`.
    public func draw(_ rng: inout SeededRandom, weights: QuadCategoryWeights = .uniform) -> Int {
        let u = Int(rng.next() % UInt64(weights.total))
        let c = byCategory[weights.category(for: u)]
        return c[Int(rng.next() % UInt64(c.count))]
    }
}
