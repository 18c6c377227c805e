import FlowTensor

/// Training checkpoints as one safetensors file: the live parameters under their own names (so a
/// checkpoint still loads as a model), the EMA shadows under `ema/<name>`, the AdamW moments under
/// `adam_m/<name>` and `adam_v/<name>`, and the step, Adam's t and any caller metadata in `__metadata__`.
public enum Checkpoint {
    /// Metadata key of the number of completed optimizer steps.
    public static let stepKey = "flowturbo.train_step"
    /// Metadata key of AdamW's bias-correction counter.
    public static let adamTKey = "flowturbo.adam_t"

    /// Writes a checkpoint atomically (`shapes` gives each parameter's PyTorch shape by name).
    /// `fixed` are non-trained tensors (e.g. the sin-cos `pos_embed`) stored under their names so the
    /// checkpoint is a complete model file.
    public static func save(
        _ path: String, params: [TrainableParameter], shapes: [String: [Int]], adam: AdamW, ema: EMA,
        step: Int, metadata: [String: String],
        fixed: [(name: String, shape: [Int], buffer: Buffer)] = []
    ) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        func add(_ name: String, _ shape: [Int], _ b: Buffer) {
            tensors.append((name, Tensor(shape: shape, data: b.array)))
        }
        for f in fixed { add(f.name, f.shape, f.buffer) }
        for (k, p) in params.enumerated() {
            let shape = shapes[p.name] ?? [p.param.count]
            add(p.name, shape, p.param)
            add("ema/" + p.name, shape, ema.shadow[k])
            add("adam_m/" + p.name, shape, adam.m[k])
            add("adam_v/" + p.name, shape, adam.v[k])
        }
        var meta = metadata
        meta[stepKey] = String(step)
        meta[adamTKey] = String(adam.t)
        try SafeTensors.write(path, tensors: tensors, metadata: meta)
    }

    /// Restores parameters, EMA shadows and AdamW state from a checkpoint; returns the completed step count
    /// and the file's metadata. Every tensor must be present with the right size.
    public static func load(
        _ path: String, params: [TrainableParameter], adam: AdamW, ema: EMA
    ) throws -> (step: Int, metadata: [String: String]) {
        let f = try SafeTensors.load(path)
        guard let s = f.metadata[stepKey], let step = Int(s), let ts = f.metadata[adamTKey], let t = Int(ts) else {
            throw FlowError(
                "\(path): not a training checkpoint (no '\(stepKey)'/'\(adamTKey)' metadata); pass a file written with \(.checkpointEvery)"
            )
        }
        func fill(_ name: String, _ b: Buffer) throws {
            guard f.shape(name) != nil else {
                throw FlowError(
                    "\(path): checkpoint lacks tensor '\(name)'; it was written for a different model (check \(.depth)/\(.width))"
                )
            }
            let tensor = try f.tensor(name)
            guard tensor.count == b.count else {
                throw FlowError(
                    "\(path): tensor '\(name)' has \(tensor.count) values, the model needs \(b.count); resume with the same model flags"
                )
            }
            b.copy(from: tensor.data)
        }
        for (k, p) in params.enumerated() {
            try fill(p.name, p.param)
            try fill("ema/" + p.name, ema.shadow[k])
            try fill("adam_m/" + p.name, adam.m[k])
            try fill("adam_v/" + p.name, adam.v[k])
        }
        adam.t = t
        return (step, f.metadata)
    }
}
