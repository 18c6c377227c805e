import FlowModels
import FlowTensor

/// The all-MiniLM-L6-v2 sentence encoder (BERT, 6 post-LN layers, 384-d, 12 heads), as sentence-transformers runs it:
/// tokenizer, encoder, mean pooling over real tokens, L2 normalisation.
///
///     let enc = try MiniLMEncoder.load()                      // Models/minilm (Scripts/fetch-minilm.sh)
///     let e = try enc.encode(prompts: texts, padTo: 120)      // features [N, 120, 384], mask [N, 120]
///     let s = try enc.sentenceEmbeddings(prompts: texts)      // [N, 384], unit rows
public final class MiniLMEncoder: @unchecked Sendable {
    public let directory: String
    public let config: MiniLMConfig
    public let weights: MiniLMWeights
    public let tokenizer: BertTokenizer
    /// Packed rows per forward chunk (bounds the activation memory: about 4 KB × (4D + I) floats per row).
    public var chunkRows = 4096

    /// Files read by `load` (the first two are required).
    public static let files = ["model.safetensors", "vocab.txt", "config.json", "sentence_bert_config.json"]

    /// `Models/minilm` of the repository (or `$FLOWTURBO_MODELS/minilm`).
    public static var defaultDirectory: String { ModelLoader.modelsDirectory + "/minilm" }

    public init(directory: String, config: MiniLMConfig, weights: MiniLMWeights, tokenizer: BertTokenizer) {
        self.directory = directory
        self.config = config
        self.weights = weights
        self.tokenizer = tokenizer
    }

    /// Loads the encoder from a folder holding `model.safetensors` and `vocab.txt` (+ optional `config.json`,
    /// `sentence_bert_config.json`). Nothing is downloaded: a missing file is an error naming the fetch script.
    public static func load(directory: String = defaultDirectory) throws -> MiniLMEncoder {
        try requireFiles(directory: directory)
        let config = try MiniLMConfig.load(directory: directory)
        let tokenizer = try BertTokenizer.load(vocabularyPath: directory + "/vocab.txt")
        guard tokenizer.vocabulary.count == config.vocabSize else {
            throw FlowError(
                "\(directory)/vocab.txt has \(tokenizer.vocabulary.count) tokens, "
                    + "the model \(config.vocabSize); "
                    + "re-run Scripts/fetch-minilm.sh")
        }
        let weights = try MiniLMWeights.load(directory + "/model.safetensors", config: config)
        return MiniLMEncoder(directory: directory, config: config, weights: weights, tokenizer: tokenizer)
    }

    /// Throws the one-line "run Scripts/fetch-minilm.sh" error when a required file is missing.
    public static func requireFiles(
        directory: String,
        _ required: [String] = ["model.safetensors", "vocab.txt"]
    ) throws {
        for f in required where !FileIO.exists(directory + "/" + f) {
            throw FlowError("text encoder not found: \(directory)/\(f) is missing; run Scripts/fetch-minilm.sh")
        }
    }

    /// Hex SHA-256 identifying the encoder: over "name:sha256(file)\n" for each of `files` present (for journals).
    public static func digest(directory: String = defaultDirectory) throws -> String {
        try requireFiles(directory: directory)
        var text = ""
        for f in files where FileIO.exists(directory + "/" + f) {
            text += "\(f):\(try SHA256.hex(file: directory + "/" + f))\n"
        }
        return SHA256.hex(Array(text.utf8))
    }

    /// Token ids per prompt: `[CLS] … [SEP]`, truncated to `maxTokens` (default `config.maxTokens`).
    public func tokenize(_ prompts: [String], maxTokens: Int? = nil) -> [[Int32]] {
        let m = min(maxTokens ?? config.maxTokens, config.maxPositions)
        return prompts.map { tokenizer.encode($0, maxTokens: m) }
    }

    /// Token features of the prompts, padded to the longest prompt, or to `padTo` tokens (prompts are then
    /// truncated to at most `padTo` ids, [SEP] kept: a fixed length L for a cross-attention model).
    public func encode(prompts: [String], padTo: Int? = nil) throws -> TextEncoding {
        if let p = padTo, p < 2 {
            throw FlowError("padding length \(p) is too short: need at least 2 for [CLS] and [SEP]")
        }
        return try encode(tokenIDs: tokenize(prompts, maxTokens: padTo.map { min($0, config.maxTokens) }), padTo: padTo)
    }

    /// Token features of given id sequences (each 1…maxPositions ids below the vocabulary size).
    public func encode(tokenIDs: [[Int32]], padTo: Int? = nil) throws -> TextEncoding {
        let longest = tokenIDs.map(\.count).max() ?? 0
        let l = padTo ?? longest
        guard longest <= l else { throw FlowError("a prompt has \(longest) tokens, more than the padding length \(l)") }
        let d = config.hidden
        var features = [Float](repeating: 0, count: tokenIDs.count * l * d)
        var mask = [Float](repeating: 0, count: tokenIDs.count * l)
        try forEachChunk(tokenIDs) { range, hidden in
            var r = 0
            for i in range {
                let n = tokenIDs[i].count
                for t in 0..<n {
                    for j in 0..<d { features[(i * l + t) * d + j] = hidden[(r + t) * d + j] }
                    mask[i * l + t] = 1
                }
                r += n
            }
        }
        return TextEncoding(
            tokenIDs: tokenIDs, features: Tensor(shape: [tokenIDs.count, l, d], data: features),
            mask: Tensor(shape: [tokenIDs.count, l], data: mask))
    }

    /// Sentence embeddings [N, D] (unit rows), without materialising padded features.
    public func sentenceEmbeddings(prompts: [String]) throws -> Tensor {
        try sentenceEmbeddings(tokenIDs: tokenize(prompts))
    }

    public func sentenceEmbeddings(tokenIDs: [[Int32]]) throws -> Tensor {
        let d = config.hidden
        var out = [Float](repeating: 0, count: tokenIDs.count * d)
        try forEachChunk(tokenIDs) { range, hidden in
            var r = 0
            hidden.withUnsafeBufferPointer { h in
                out.withUnsafeMutableBufferPointer { o in
                    for i in range {
                        let n = tokenIDs[i].count
                        TextPooling.meanNormalized(h.baseAddress! + r * d, rows: n, dim: d, out: o.baseAddress! + i * d)
                        r += n
                    }
                }
            }
        }
        return Tensor(shape: [tokenIDs.count, d], data: out)
    }

    /// Runs the encoder over consecutive groups of sequences of at most `chunkRows` tokens in all and hands each
    /// group's index range and packed last hidden states ([Σ lengths, D]) to `body`.
    func forEachChunk(_ ids: [[Int32]], _ body: (Range<Int>, [Float]) throws -> Void) throws {
        for (i, seq) in ids.enumerated() {
            guard !seq.isEmpty, seq.count <= config.maxPositions else {
                throw FlowError("prompt \(i): \(seq.count) token ids; the encoder takes 1…\(config.maxPositions)")
            }
            if let bad = seq.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
                throw FlowError("prompt \(i): token id \(bad) is outside the vocabulary (0..<\(config.vocabSize))")
            }
        }
        let rowsNeeded = ids.map(\.count).max() ?? 0
        var forward = MiniLMForward(config: config, weights: weights, maxRows: max(chunkRows, rowsNeeded))
        var start = 0
        while start < ids.count {
            var end = start
            var rows = 0
            while end < ids.count && (end == start || rows + ids[end].count <= forward.maxRows) {
                rows += ids[end].count
                end += 1
            }
            forward.run(ids[start..<end])
            try body(start..<end, forward.x)
            start = end
        }
    }
}
