import FlowTensor

/// The parameters of one PixArt block, under the official state-dict names `blocks.{i}.…`.
public final class PixArtBlockWeights {
    public let table: Buffer  // scale_shift_table (6, D)
    public let qkvW, qkvB, projW, projB: Buffer  // attn.qkv, attn.proj
    public let qW, qB, kvW, kvB, crossW, crossB: Buffer  // cross_attn.q_linear, kv_linear, proj
    public let fc1W, fc1B, fc2W, fc2B: Buffer  // mlp.fc1, mlp.fc2
    init(_ c: PixArtConfig) {
        let d = c.hiddenSize
        let h = c.mlpHidden
        table = Buffer(count: 6 * d)
        qkvW = Buffer(count: 3 * d * d)
        qkvB = Buffer(count: 3 * d)
        projW = Buffer(count: d * d)
        projB = Buffer(count: d)
        qW = Buffer(count: d * d)
        qB = Buffer(count: d)
        kvW = Buffer(count: 2 * d * d)
        kvB = Buffer(count: 2 * d)
        crossW = Buffer(count: d * d)
        crossB = Buffer(count: d)
        fc1W = Buffer(count: h * d)
        fc1B = Buffer(count: h)
        fc2W = Buffer(count: d * h)
        fc2B = Buffer(count: d)
    }
}

/// All parameters and buffers of a PixArt-α network, each a preallocated `Buffer`, named as in the official code.
public final class PixArtWeights {
    public let config: PixArtConfig
    public let xW, xB, pos: Buffer  // x_embedder.proj, pos_embed
    public let t0W, t0B, t2W, t2B: Buffer  // t_embedder.mlp.{0,2}
    public let tBlockW, tBlockB: Buffer  // t_block.1
    public let yFc1W, yFc1B, yFc2W, yFc2B: Buffer  // y_embedder.y_proj.fc{1,2}
    public let nullCaption: Buffer  // y_embedder.y_embedding (L_max, C_caption)
    public let finalTable, finalW, finalB: Buffer  // final_layer.scale_shift_table, final_layer.linear
    public let blocks: [PixArtBlockWeights]

    /// Zero-initialised weights with the default fixed sin-cos position embedding
    /// (PixArt's `lewei_scale = 1`, `base_size = input_size // patch`, which equals MAE's).
    public init(config c: PixArtConfig) {
        config = c
        let d = c.hiddenSize
        let p2 = c.patchSize * c.patchSize
        let cc = c.captionChannels
        xW = Buffer(count: d * c.embedChannels * p2)
        xB = Buffer(count: d)
        pos = Buffer(Embeddings.positional2D(dim: d, grid: c.grid))
        t0W = Buffer(count: d * c.frequencyEmbeddingSize)
        t0B = Buffer(count: d)
        t2W = Buffer(count: d * d)
        t2B = Buffer(count: d)
        tBlockW = Buffer(count: 6 * d * d)
        tBlockB = Buffer(count: 6 * d)
        yFc1W = Buffer(count: d * cc)
        yFc1B = Buffer(count: d)
        yFc2W = Buffer(count: d * d)
        yFc2B = Buffer(count: d)
        nullCaption = Buffer(count: c.captionTokens * cc)
        blocks = (0..<c.depth).map { _ in PixArtBlockWeights(c) }
        finalTable = Buffer(count: 2 * d)
        finalW = Buffer(count: p2 * c.outChannels * d)
        finalB = Buffer(count: p2 * c.outChannels)
    }

    /// Every tensor with its official name and PyTorch shape, in a stable order.
    public var named: [(name: String, shape: [Int], buffer: Buffer)] {
        let c = config
        let d = c.hiddenSize
        let p = c.patchSize
        let h = c.mlpHidden
        let cc = c.captionChannels
        var out: [(String, [Int], Buffer)] = [
            ("x_embedder.proj.weight", [d, c.embedChannels, p, p], xW), ("x_embedder.proj.bias", [d], xB),
            ("pos_embed", [1, c.tokens, d], pos),
            ("t_embedder.mlp.0.weight", [d, c.frequencyEmbeddingSize], t0W), ("t_embedder.mlp.0.bias", [d], t0B),
            ("t_embedder.mlp.2.weight", [d, d], t2W), ("t_embedder.mlp.2.bias", [d], t2B),
            ("t_block.1.weight", [6 * d, d], tBlockW), ("t_block.1.bias", [6 * d], tBlockB),
            ("y_embedder.y_proj.fc1.weight", [d, cc], yFc1W), ("y_embedder.y_proj.fc1.bias", [d], yFc1B),
            ("y_embedder.y_proj.fc2.weight", [d, d], yFc2W), ("y_embedder.y_proj.fc2.bias", [d], yFc2B),
            ("y_embedder.y_embedding", [c.captionTokens, cc], nullCaption),
        ]
        for (i, b) in blocks.enumerated() {
            let n = "blocks.\(i)."
            out += [
                (n + "scale_shift_table", [6, d], b.table),
                (n + "attn.qkv.weight", [3 * d, d], b.qkvW), (n + "attn.qkv.bias", [3 * d], b.qkvB),
                (n + "attn.proj.weight", [d, d], b.projW), (n + "attn.proj.bias", [d], b.projB),
                (n + "cross_attn.q_linear.weight", [d, d], b.qW), (n + "cross_attn.q_linear.bias", [d], b.qB),
                (n + "cross_attn.kv_linear.weight", [2 * d, d], b.kvW),
                (n + "cross_attn.kv_linear.bias", [2 * d], b.kvB),
                (n + "cross_attn.proj.weight", [d, d], b.crossW), (n + "cross_attn.proj.bias", [d], b.crossB),
                (n + "mlp.fc1.weight", [h, d], b.fc1W), (n + "mlp.fc1.bias", [h], b.fc1B),
                (n + "mlp.fc2.weight", [d, h], b.fc2W), (n + "mlp.fc2.bias", [d], b.fc2B),
            ]
        }
        out += [
            ("final_layer.scale_shift_table", [2, d], finalTable),
            ("final_layer.linear.weight", [p * p * c.outChannels, d], finalW),
            ("final_layer.linear.bias", [p * p * c.outChannels], finalB),
        ]
        return out
    }

    /// Loads every tensor from a safetensors file, checking names and shapes. A missing `pos_embed` keeps the
    /// default sin-cos values (the official buffer is always that unless `lewei_scale`/`base_size` differ).
    public static func load(_ f: SafeTensorsFile, config: PixArtConfig) throws -> PixArtWeights {
        let w = PixArtWeights(config: config)
        for (name, shape, buf) in w.named {
            if name == "pos_embed" && f.shape(name) == nil { continue }
            let t = try f.tensor(name, shape: shape)
            buf.copy(from: t.data)
        }
        return w
    }

    /// Writes the weights with the config in `__metadata__` (plus any `extra` metadata).
    public func save(_ path: String, extra: [String: String] = [:]) throws {
        let tensors = named.map { (name: $0.name, tensor: Tensor(shape: $0.shape, data: $0.buffer.array)) }
        try SafeTensors.write(path, tensors: tensors, metadata: config.metadata.merging(extra) { a, _ in a })
    }

    /// Fills every parameter and the null caption (not pos_embed) with N(0, std²) from `seed`.
    /// Used by tests and benchmarks that need a network with no zero paths.
    public func randomize(seed: UInt64, std: Double = 0.02) {
        var rng = SeededRandom(seed: seed)
        for (name, _, buf) in named where name != "pos_embed" {
            buf.copy(from: rng.normals(buf.count, std: std))
        }
    }
}
