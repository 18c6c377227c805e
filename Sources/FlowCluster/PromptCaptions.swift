import FlowTensor
import FlowText

/// Caption features of one shard's samples: features (n, L, C) float32 and mask (n, L), 1 = real token.
public struct ShardCaptions {
    public var features: [Float]
    public var mask: [Int32]
    /// Tokens per caption L (the model's L_max).
    public var length: Int

    public init(features: [Float], mask: [Int32], length: Int) {
        self.features = features
        self.mask = mask
        self.length = length
    }
}

/// A caption-conditioned worker's prompt encoder: MiniLM token features padded (and truncated) to the model's
/// caption length L_max with their mask, cached by prompt text (a prompt's K images usually land in one shard).
///
/// Each prompt is encoded alone, so its features never depend on which other prompts a shard holds: any number of
/// workers gives the same bytes.
public final class PromptCaptions {
    public let encoder: MiniLMEncoder
    /// L_max: tokens per caption.
    public let length: Int
    /// Most bytes of cached features (64 MiB: 364 prompts at PixArt-α's L = 120); the cache is emptied when full.
    public var maxCachedBytes = 64 << 20
    private var cache: [String: (features: [Float], mask: [Int32])] = [:]

    /// Channels of one token feature (MiniLM: 384).
    public var channels: Int { encoder.config.hidden }

    public init(encoder: MiniLMEncoder, length: Int) {
        self.encoder = encoder
        self.length = length
        // One prompt per forward: activation buffers for L rows, not the default 4096 (≈ 50 MB per call).
        encoder.chunkRows = max(2, length)
    }

    /// Prompts encoded so far and still cached.
    public var cachedCount: Int { cache.count }

    /// Features (n, L, C) and mask (n, L) of `prompts`, one per sample, in order.
    public func captions(for prompts: [String]) throws -> ShardCaptions {
        let l = length
        let c = channels
        var features = [Float](repeating: 0, count: prompts.count * l * c)
        var mask = [Int32](repeating: 0, count: prompts.count * l)
        for (i, text) in prompts.enumerated() {
            let e = try encoded(text)
            features.replaceSubrange((i * l * c)..<((i + 1) * l * c), with: e.features)
            mask.replaceSubrange((i * l)..<((i + 1) * l), with: e.mask)
        }
        return ShardCaptions(features: features, mask: mask, length: l)
    }

    private func encoded(_ text: String) throws -> (features: [Float], mask: [Int32]) {
        if let hit = cache[text] { return hit }
        let e = try encoder.encode(prompts: [text], padTo: length)  // features [1, L, C], mask [1, L]
        let entry = (features: e.features.data, mask: e.mask.data.map { $0 != 0 ? Int32(1) : 0 })
        if (cache.count + 1) * length * channels * 4 > maxCachedBytes { cache.removeAll(keepingCapacity: true) }
        cache[text] = entry
        return entry
    }
}
