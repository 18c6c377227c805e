import FlowTensor

/// A WordPiece vocabulary (`vocab.txt`: one token a line, id = line index) and BERT's greedy longest-match split.
public struct WordPiece: Sendable {
    public let tokens: [String]
    let ids: [String: Int32]
    public let unknownID: Int32
    /// Words longer than this many Unicode scalars become `[UNK]` (HuggingFace `max_input_chars_per_word`).
    public let maxInputCharsPerWord = 100

    public init(tokens: [String]) throws {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        guard let unk = ids["[UNK]"] else {
            throw FlowError("vocabulary has no [UNK] token; use the vocab.txt of the model")
        }
        self.tokens = tokens
        self.ids = ids
        self.unknownID = unk
    }

    /// Reads `vocab.txt` (UTF-8, "\n" or "\r\n" line ends; a trailing empty line is ignored).
    public static func load(_ path: String) throws -> WordPiece {
        let bytes = try FileIO.read(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw FlowError("\(path): vocabulary is not UTF-8 text; re-run Scripts/fetch-minilm.sh")
        }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: isLineBreak).map(String.init)
        if lines.last == "" { lines.removeLast() }
        do { return try WordPiece(tokens: lines) } catch let e as FlowError { throw FlowError("\(path): \(e.message)") }
    }

    public var count: Int { tokens.count }

    /// The id of an exact token, or nil.
    public func id(_ token: String) -> Int32? { ids[token] }

    /// Appends the pieces of one word: greedy longest prefix in the vocabulary, continuation pieces prefixed "##";
    /// the whole word is one `[UNK]` when some remainder has no piece or the word is too long.
    public func encode(word: String, into out: inout [Int32]) {
        let scalars = Array(word.unicodeScalars)
        if scalars.count > maxInputCharsPerWord {
            out.append(unknownID)
            return
        }
        let mark = out.count
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int32?
            while start < end {
                var piece = start > 0 ? "##" : ""
                piece.unicodeScalars.append(contentsOf: scalars[start..<end])
                if let id = ids[piece] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else {
                out.removeSubrange(mark...)
                out.append(unknownID)
                return
            }
            out.append(id)
            start = end
        }
    }
}
