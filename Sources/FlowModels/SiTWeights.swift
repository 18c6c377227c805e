import FlowTensor

/// The parameters of one SiT block, under the official state-dict names `blocks.{i}.…`.
public final class SiTBlockWeights {
    public let qkvW, qkvB, projW, projB, fc1W, fc1B, fc2W, fc2B, adaW, adaB: Buffer
    init(_ c: SiTConfig) {
        let d = c.hiddenSize
        let h = c.mlpHidden
        qkvW = Buffer(count: 3 * d * d)
        qkvB = Buffer(count: 3 * d)
        projW = Buffer(count: d * d)
        projB = Buffer(count: d)
        fc1W = Buffer(count: h * d)
        fc1B = Buffer(count: h)
        fc2W = Buffer(count: d * h)
        fc2B = Buffer(count: d)
        adaW = Buffer(count: 6 * d * d)
        adaB = Buffer(count: 6 * d)
    }
}

/// All parameters of a SiT predictor or refiner, each a preallocated `Buffer`, named as in the official code.
public final class SiTWeights {
    public let config: SiTConfig
    public let xW, xB, pos, t0W, t0B, t2W, t2B, yTable, finalAdaW, finalAdaB, finalW, finalB: Buffer
    public let blocks: [SiTBlockWeights]

    /// Zero-initialised weights with the fixed sin-cos position embedding filled in.
    public init(config c: SiTConfig) {
        config = c
        let d = c.hiddenSize
        let p2 = c.patchSize * c.patchSize
        xW = Buffer(count: d * c.embedChannels * p2)
        xB = Buffer(count: d)
        pos = Buffer(Embeddings.positional2D(dim: d, grid: c.grid))
        t0W = Buffer(count: d * c.frequencyEmbeddingSize)
        t0B = Buffer(count: d)
        t2W = Buffer(count: d * d)
        t2B = Buffer(count: d)
        yTable = Buffer(count: (c.numClasses + 1) * d)
        blocks = (0..<c.depth).map { _ in SiTBlockWeights(c) }
        finalAdaW = Buffer(count: 2 * d * d)
        finalAdaB = Buffer(count: 2 * d)
        finalW = Buffer(count: p2 * c.outChannels * d)
        finalB = Buffer(count: p2 * c.outChannels)
    }

    /// Every tensor with its official name and PyTorch shape, in a stable order.
    public var named: [(name: String, shape: [Int], buffer: Buffer)] {
        let c = config
        let d = c.hiddenSize
        let p = c.patchSize
        let h = c.mlpHidden
        var out: [(String, [Int], Buffer)] = [
            ("x_embedder.proj.weight", [d, c.embedChannels, p, p], xW), ("x_embedder.proj.bias", [d], xB),
            ("pos_embed", [1, c.tokens, d], pos),
            ("t_embedder.mlp.0.weight", [d, c.frequencyEmbeddingSize], t0W), ("t_embedder.mlp.0.bias", [d], t0B),
            ("t_embedder.mlp.2.weight", [d, d], t2W), ("t_embedder.mlp.2.bias", [d], t2B),
            ("y_embedder.embedding_table.weight", [c.numClasses + 1, d], yTable),
        ]
        for (i, b) in blocks.enumerated() {
            let n = "blocks.\(i)."
            out += [
                (n + "attn.qkv.weight", [3 * d, d], b.qkvW), (n + "attn.qkv.bias", [3 * d], b.qkvB),
                (n + "attn.proj.weight", [d, d], b.projW), (n + "attn.proj.bias", [d], b.projB),
                (n + "mlp.fc1.weight", [h, d], b.fc1W), (n + "mlp.fc1.bias", [h], b.fc1B),
                (n + "mlp.fc2.weight", [d, h], b.fc2W), (n + "mlp.fc2.bias", [d], b.fc2B),
                (n + "adaLN_modulation.1.weight", [6 * d, d], b.adaW), (n + "adaLN_modulation.1.bias", [6 * d], b.adaB),
            ]
        }
        out += [
            ("final_layer.adaLN_modulation.1.weight", [2 * d, d], finalAdaW),
            ("final_layer.adaLN_modulation.1.bias", [2 * d], finalAdaB),
            ("final_layer.linear.weight", [p * p * c.outChannels, d], finalW),
            ("final_layer.linear.bias", [p * p * c.outChannels], finalB),
        ]
        return out
    }

    /// Loads every tensor from a safetensors file, checking names and shapes.
    public static func load(_ f: SafeTensorsFile, config: SiTConfig) throws -> SiTWeights {
        let w = SiTWeights(config: config)
        for (name, shape, buf) in w.named {
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

    /// Fills every parameter (except the fixed position embedding) with N(0, std²) from `seed`.
    /// Used by tests and benchmarks that need a network with no zero paths.
    public func randomize(seed: UInt64, std: Double = 0.02) {
        var rng = SeededRandom(seed: seed)
        for (name, _, buf) in named where name != "pos_embed" {
            buf.copy(from: rng.normals(buf.count, std: std))
        }
    }
}
