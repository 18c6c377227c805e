import FlowTensor

/// The uncased BERT tokenizer of all-MiniLM-L6-v2, as sentence-transformers runs it (HuggingFace `tokenizers`):
/// special tokens written in the text ("[MASK]", "[SEP]", …, exact case) are kept whole, the rest is normalised and
/// split by `BertNormalizer`, pieces come from `WordPiece`, and the result is `[CLS] pieces [SEP]`, truncated so
/// that at most `maxTokens` ids remain (the last pieces are dropped, `[SEP]` stays).
public struct BertTokenizer: Sendable {
    public let vocabulary: WordPiece
    public let clsID: Int32
    public let sepID: Int32
    public let padID: Int32
    /// Special tokens recognised verbatim in the input, with their ids.
    let specials: [(text: [Unicode.Scalar], id: Int32)]

    public static let specialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    public init(vocabulary: WordPiece) throws {
        guard let cls = vocabulary.id("[CLS]"), let sep = vocabulary.id("[SEP]"),
            let pad = vocabulary.id("[PAD]")
        else {
            throw FlowError("vocabulary lacks [CLS], [SEP] or [PAD]; use the vocab.txt of a BERT model")
        }
        self.vocabulary = vocabulary
        clsID = cls
        sepID = sep
        padID = pad
        specials = Self.specialTokens.compactMap { t in vocabulary.id(t).map { (Array(t.unicodeScalars), $0) } }
    }

    /// Loads `vocab.txt`.
    public static func load(vocabularyPath: String) throws -> BertTokenizer {
        try BertTokenizer(vocabulary: WordPiece.load(vocabularyPath))
    }

    /// The ids of the text without `[CLS]`/`[SEP]` and without truncation.
    public func pieces(_ text: String) -> [Int32] {
        var out: [Int32] = []
        for segment in splitSpecials(text) {
            switch segment {
            case .special(let id):
                out.append(id)
            case .text(let s):
                for word in BertNormalizer.words(s) { vocabulary.encode(word: word, into: &out) }
            }
        }
        return out
    }

    /// `[CLS] pieces [SEP]` with at most `maxTokens` ids (≥ 2).
    public func encode(_ text: String, maxTokens: Int) -> [Int32] {
        let p = pieces(text)
        let keep = min(p.count, max(0, maxTokens - 2))
        return [clsID] + p[..<keep] + [sepID]
    }

    enum Segment {
        case text(String)
        case special(Int32)
    }

    /// Splits the raw text at verbatim special tokens (leftmost match; the longest one when several start there).
    func splitSpecials(_ text: String) -> [Segment] {
        let s = Array(text.unicodeScalars)
        var out: [Segment] = []
        var plainStart = 0
        var i = 0
        while i < s.count {
            if s[i] == "[", let (len, id) = matchSpecial(s, at: i) {
                if plainStart < i { out.append(.text(Self.string(s[plainStart..<i]))) }
                out.append(.special(id))
                i += len
                plainStart = i
            } else {
                i += 1
            }
        }
        if plainStart < s.count { out.append(.text(Self.string(s[plainStart...]))) }
        return out
    }

    func matchSpecial(_ s: [Unicode.Scalar], at i: Int) -> (Int, Int32)? {
        var best: (Int, Int32)?
        for sp in specials where i + sp.text.count <= s.count && (best == nil || sp.text.count > best!.0) {
            if s[i..<(i + sp.text.count)].elementsEqual(sp.text) { best = (sp.text.count, sp.id) }
        }
        return best
    }

    static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: scalars)
        return String(v)
    }
}
