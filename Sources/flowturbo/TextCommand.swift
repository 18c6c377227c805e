import ArgumentParser
import FlowTensor
import FlowText
import Foundation

/// `flowturbo text …`: the MiniLM text encoder (all-MiniLM-L6-v2, sentence-transformers' embeddings).
struct TextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "text",
        abstract: "Text encoder (all-MiniLM-L6-v2 from Models/minilm, fetched by Scripts/fetch-minilm.sh).",
        subcommands: [TextEmbedCommand.self, TextInfoCommand.self])
}

/// `flowturbo text info`: the encoder's configuration, parameter count and SHA-256 digest (for journal headers).
struct TextInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Configuration, parameter count and SHA-256 digest of the text encoder.")

    @Option(help: "Encoder folder (default Models/minilm).")
    var encoder: String?

    func run() throws {
        let dir = encoder ?? MiniLMEncoder.defaultDirectory
        let enc = try MiniLMEncoder.load(directory: dir)
        let c = enc.config
        let w = enc.weights
        var params = w.wordEmbeddings.count + w.positionEmbeddings.count + w.tokenTypeEmbeddings.count
        params += w.embLNW.count + w.embLNB.count
        for l in w.layers {
            params += l.qkvW.count + l.qkvB.count + l.attnOutW.count + l.attnOutB.count + l.ln1W.count + l.ln1B.count
            params += l.fc1W.count + l.fc1B.count + l.fc2W.count + l.fc2B.count + l.ln2W.count + l.ln2B.count
        }
        print("encoder: \(dir)")
        print(
            "bert: hidden \(c.hidden), layers \(c.layers), heads \(c.heads), intermediate \(c.intermediate), "
                + "vocab \(c.vocabSize), positions \(c.maxPositions), layer-norm eps \(c.layerNormEps)")
        print("max tokens: \(c.maxTokens) ([CLS] and [SEP] included)")
        print("parameters: \(params)")
        print("sha256: \(try MiniLMEncoder.digest(directory: dir))")
    }
}

/// `flowturbo text embed`: sentence embeddings, token ids or per-token features of a prompt file.
struct TextEmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Sentence embeddings (float32 N×384 .npy, unit rows, as sentence-transformers), token ids, "
            + "or token features.")

    @Option(help: "Prompt file: one prompt a line, JSONL with \"prompt\", or TSV/CSV with a prompt column.")
    var prompts: String
    @Option(help: "Output: .npy embeddings (N, 384); with --token-features an .npz (features, mask, input_ids).")
    var out: String?
    @Flag(help: "Print the token ids of each prompt as a JSON array, one line per prompt (needs only vocab.txt).")
    var tokens = false
    @Flag(
        help: .init(
            "Write the last hidden states (N, L, 384) float32 as `features`, `mask` (N, L) int64 and "
                + "`input_ids` (N, L) int64 to --out (.npz)."))
    var tokenFeatures = false
    @Option(
        help: .init(
            "Pad token features to this length L (prompts are truncated to L tokens); "
                + "default: the longest prompt."))
    var padTo: Int?
    @Option(help: "Longest token sequence, [CLS] and [SEP] included (default: sentence_bert_config.json, 256).")
    var maxTokens: Int?
    @Option(help: "Prompt file format: text, jsonl, tsv, csv (default: from the extension, else the content).")
    var format: String?
    @Option(
        help: .init(
            "Folder with model.safetensors, vocab.txt, config.json, sentence_bert_config.json "
                + "(default Models/minilm)."))
    var encoder: String?
    @Option(help: "BLAS threads (default: OpenBLAS's choice).")
    var threads: Int?

    func validate() throws {
        if !tokens && out == nil { throw ValidationError("give --out FILE (or --tokens to print token ids)") }
        if let m = maxTokens, m < 2 { throw ValidationError("--max-tokens must be at least 2 (for [CLS] and [SEP])") }
        if let p = padTo, p < 2 { throw ValidationError("--pad-to must be at least 2 (for [CLS] and [SEP])") }
        if padTo != nil && !tokenFeatures { throw ValidationError("--pad-to applies to --token-features only") }
        if let f = format, PromptSet.Format(rawValue: f) == nil {
            throw ValidationError("--format \(f) is not one of: text, jsonl, tsv, csv")
        }
    }

    func run() throws {
        if let threads { Gemm.setThreads(threads) }
        let dir = encoder ?? MiniLMEncoder.defaultDirectory
        let entries = try PromptSet.load(prompts, format: format.flatMap(PromptSet.Format.init(rawValue:)))
        let texts = entries.map(\.text)
        if tokens && out == nil {
            try MiniLMEncoder.requireFiles(directory: dir, ["vocab.txt"])
            let config = try MiniLMConfig.load(directory: dir)
            let tok = try BertTokenizer.load(vocabularyPath: dir + "/vocab.txt")
            for t in texts { print(Self.json(tok.encode(t, maxTokens: maxTokens ?? config.maxTokens))) }
            return
        }
        let clock = ContinuousClock()
        let start = clock.now
        let enc = try MiniLMEncoder.load(directory: dir)
        let loaded = clock.now
        var ids = enc.tokenize(texts, maxTokens: padTo.map { min($0, maxTokens ?? enc.config.maxTokens) } ?? maxTokens)
        if tokens { for s in ids { print(Self.json(s)) } }
        guard let out else { return }
        if tokenFeatures {
            let e = try enc.encode(tokenIDs: ids, padTo: padTo)
            let (n, l) = (e.count, e.length)
            var inputIDs = [Int64](repeating: 0, count: n * l)
            for (i, s) in e.tokenIDs.enumerated() { for (t, v) in s.enumerated() { inputIDs[i * l + t] = Int64(v) } }
            try NPZ.write(
                out,
                arrays: [
                    ("features", Self.array(e.features)),
                    ("mask", Self.array(int64: e.mask.data.map { Int64($0) }, shape: [n, l])),
                    ("input_ids", Self.array(int64: inputIDs, shape: [n, l])),
                ])
        } else {
            let emb = try enc.sentenceEmbeddings(tokenIDs: ids)
            try NPY.write(emb, to: out)
        }
        let done = clock.now
        let longest = ids.map(\.count).max() ?? 0
        ids = []
        let summary = String(
            format: "text embed: %d prompts (longest %d tokens) → %@; load %.2f s, encode %.2f s\n",
            texts.count, longest, out, Self.seconds(loaded - start), Self.seconds(done - loaded))
        FileHandle.standardError.write(Data(summary.utf8))
    }

    static func json(_ ids: [Int32]) -> String { "[" + ids.map { String($0) }.joined(separator: ", ") + "]" }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    static func array(_ t: Tensor) -> NPYArray {
        t.data.withUnsafeBytes { NPYArray(dtype: .float32, shape: t.shape, bytes: Array($0)) }
    }

    static func array(int64 v: [Int64], shape: [Int]) -> NPYArray {
        v.map(\.littleEndian).withUnsafeBytes { NPYArray(dtype: .int64, shape: shape, bytes: Array($0)) }
    }
}
