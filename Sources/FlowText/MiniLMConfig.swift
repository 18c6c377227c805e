import FlowTensor
import Foundation

/// Hyper-parameters of a BERT encoder (HuggingFace `config.json`) and the sentence-transformers truncation length.
public struct MiniLMConfig: Equatable, Sendable {
    public var vocabSize = 30522
    public var hidden = 384
    public var layers = 6
    public var heads = 12
    public var intermediate = 1536
    public var maxPositions = 512
    public var typeVocabSize = 2
    public var layerNormEps: Float = 1e-12
    /// Longest id sequence the encoder sees, [CLS] and [SEP] included: sentence-transformers' `max_seq_length`
    /// (`sentence_bert_config.json`; 256 for all-MiniLM-L6-v2, which is what `SentenceTransformer.encode` uses).
    public var maxTokens = 256

    public init() {}

    public var headDim: Int { hidden / heads }

    /// all-MiniLM-L6-v2 (the defaults above).
    public static let allMiniLML6v2 = MiniLMConfig()

    /// Reads `config.json` and `sentence_bert_config.json` from `directory`; a missing file keeps the defaults.
    public static func load(directory: String) throws -> MiniLMConfig {
        var c = MiniLMConfig()
        let path = directory + "/config.json"
        if FileIO.exists(path) {
            let o = try object(path)
            if let act = o["hidden_act"] as? String, act != "gelu" {
                throw FlowError("\(path): hidden_act \(act) is not supported (only \"gelu\", the erf form)")
            }
            if let pe = o["position_embedding_type"] as? String, pe != "absolute" {
                throw FlowError("\(path): position_embedding_type \(pe) is not supported (only \"absolute\")")
            }
            c.vocabSize = try int(o, "vocab_size", path) ?? c.vocabSize
            c.hidden = try int(o, "hidden_size", path) ?? c.hidden
            c.layers = try int(o, "num_hidden_layers", path) ?? c.layers
            c.heads = try int(o, "num_attention_heads", path) ?? c.heads
            c.intermediate = try int(o, "intermediate_size", path) ?? c.intermediate
            c.maxPositions = try int(o, "max_position_embeddings", path) ?? c.maxPositions
            c.typeVocabSize = try int(o, "type_vocab_size", path) ?? c.typeVocabSize
            if let eps = (o["layer_norm_eps"] as? NSNumber)?.floatValue { c.layerNormEps = eps }
            guard c.heads > 0, c.hidden % c.heads == 0 else {
                throw FlowError("\(path): hidden_size \(c.hidden) is not a multiple of num_attention_heads \(c.heads)")
            }
        }
        let st = directory + "/sentence_bert_config.json"
        if FileIO.exists(st), let m = try int(try object(st), "max_seq_length", st) { c.maxTokens = m }
        c.maxTokens = min(c.maxTokens, c.maxPositions)
        return c
    }

    static func object(_ path: String) throws -> [String: Any] {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(FileIO.read(path)))) as? [String: Any] else {
            throw FlowError("\(path): not a JSON object; re-run Scripts/fetch-minilm.sh")
        }
        return o
    }

    static func int(_ o: [String: Any], _ key: String, _ path: String) throws -> Int? {
        guard let v = o[key] else { return nil }
        guard let n = (v as? NSNumber)?.intValue, n > 0 else {
            throw FlowError("\(path): \(key) must be a positive integer")
        }
        return n
    }
}
