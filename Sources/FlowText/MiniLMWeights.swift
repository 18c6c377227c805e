import FlowTensor

/// The float32 weights of a BERT encoder, PyTorch layout (`nn.Linear` weight = [out, in]), with each layer's query,
/// key and value projections fused into one [3·D, D] matrix (rows q | k | v) so one GEMM computes all three.
public struct MiniLMWeights: Sendable {
    public struct Layer: Sendable {
        public var qkvW: [Float]  // [3D, D]
        public var qkvB: [Float]  // [3D]
        public var attnOutW: [Float]  // [D, D]
        public var attnOutB: [Float]  // [D]
        public var ln1W: [Float], ln1B: [Float]  // [D] attention.output.LayerNorm
        public var fc1W: [Float]  // [I, D] intermediate.dense
        public var fc1B: [Float]  // [I]
        public var fc2W: [Float]  // [D, I] output.dense
        public var fc2B: [Float]  // [D]
        public var ln2W: [Float], ln2B: [Float]  // [D] output.LayerNorm
    }

    public var wordEmbeddings: [Float]  // [V, D]
    public var positionEmbeddings: [Float]  // [P, D]
    public var tokenTypeEmbeddings: [Float]  // [T, D]
    public var embLNW: [Float], embLNB: [Float]  // [D]
    public var layers: [Layer]

    /// Loads HuggingFace BERT names without the `bert.` prefix (`embeddings.word_embeddings.weight`,
    /// `encoder.layer.{i}.attention.self.query.weight`, …; a `bert.` prefix is accepted too). Shapes are checked
    /// against `config`; non-float buffers (`embeddings.position_ids`) and the unused pooler are ignored.
    public static func load(_ path: String, config c: MiniLMConfig) throws -> MiniLMWeights {
        let file = try SafeTensors.loadFloatTensors(path).file
        let prefix =
            file.shape("embeddings.word_embeddings.weight") == nil
                && file.shape("bert.embeddings.word_embeddings.weight") != nil ? "bert." : ""
        func t(_ name: String, _ shape: [Int]) throws -> [Float] { try file.tensor(prefix + name, shape: shape).data }
        let d = c.hidden
        let inter = c.intermediate
        var layers: [Layer] = []
        for i in 0..<c.layers {
            let p = "encoder.layer.\(i)."
            var qkvW = try t(p + "attention.self.query.weight", [d, d])
            qkvW += try t(p + "attention.self.key.weight", [d, d])
            qkvW += try t(p + "attention.self.value.weight", [d, d])
            var qkvB = try t(p + "attention.self.query.bias", [d])
            qkvB += try t(p + "attention.self.key.bias", [d])
            qkvB += try t(p + "attention.self.value.bias", [d])
            layers.append(
                Layer(
                    qkvW: qkvW, qkvB: qkvB,
                    attnOutW: try t(p + "attention.output.dense.weight", [d, d]),
                    attnOutB: try t(p + "attention.output.dense.bias", [d]),
                    ln1W: try t(p + "attention.output.LayerNorm.weight", [d]),
                    ln1B: try t(p + "attention.output.LayerNorm.bias", [d]),
                    fc1W: try t(p + "intermediate.dense.weight", [inter, d]),
                    fc1B: try t(p + "intermediate.dense.bias", [inter]),
                    fc2W: try t(p + "output.dense.weight", [d, inter]),
                    fc2B: try t(p + "output.dense.bias", [d]),
                    ln2W: try t(p + "output.LayerNorm.weight", [d]),
                    ln2B: try t(p + "output.LayerNorm.bias", [d])))
        }
        if file.shape(prefix + "encoder.layer.\(c.layers).attention.self.query.weight") != nil {
            throw FlowError(
                "\(path): has more than the \(c.layers) layers of config.json; "
                    + "use the config of this checkpoint")
        }
        return MiniLMWeights(
            wordEmbeddings: try t("embeddings.word_embeddings.weight", [c.vocabSize, d]),
            positionEmbeddings: try t("embeddings.position_embeddings.weight", [c.maxPositions, d]),
            tokenTypeEmbeddings: try t("embeddings.token_type_embeddings.weight", [c.typeVocabSize, d]),
            embLNW: try t("embeddings.LayerNorm.weight", [d]),
            embLNB: try t("embeddings.LayerNorm.bias", [d]),
            layers: layers)
    }
}
