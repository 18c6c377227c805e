import FlowTensor
import FlowText
import XCTest

/// Token ids against the real HuggingFace `tokenizers` library (fixtures from Scripts/minilm_golden.py and from the
/// original sentence-transformers run in Fixtures/token_ids.json).
final class TokenizerTests: XCTestCase {
    func testFixturePromptIdsExact() throws {
        let tok = try TextFixtures.tokenizer()
        let prompts = try TextFixtures.prompts()
        let want = try TextFixtures.json("token_ids.json", as: [[Int32]].self)
        XCTAssertEqual(prompts.count, want.count)
        for (p, w) in zip(prompts, want) {
            XCTAssertEqual(tok.encode(p, maxTokens: 256), w, p)
        }
    }

    /// Punctuation, unicode dashes and quotes, accents, CJK, controls, emoji, special tokens, over-long words,
    /// inputs longer than 256 tokens, and 300 seeded random strings over many Unicode blocks.
    func testTrickyPromptIdsExact() throws {
        let tok = try TextFixtures.tokenizer()
        let prompts = try TextFixtures.json("tricky_prompts.json", as: [String].self)
        let want = try TextFixtures.json("tricky_token_ids.json", as: [[Int32]].self)
        XCTAssertEqual(prompts.count, want.count)
        var mismatches = 0
        for (p, w) in zip(prompts, want) {
            let got = tok.encode(p, maxTokens: 256)
            if got != w {
                mismatches += 1
                XCTFail("\(p.debugDescription): want \(w) got \(got)")
            }
            if mismatches > 5 { break }
        }
    }

    func testTruncationKeepsClsAndSep() throws {
        let tok = try TextFixtures.tokenizer()
        let text = Array(repeating: "word", count: 300).joined(separator: " ")
        let full = tok.encode(text, maxTokens: 10_000)
        XCTAssertEqual(full.count, 302)
        for n in [2, 3, 128, 256] {
            let ids = tok.encode(text, maxTokens: n)
            XCTAssertEqual(ids.count, n)
            XCTAssertEqual(ids.first, tok.clsID)
            XCTAssertEqual(ids.last, tok.sepID)
            XCTAssertEqual(Array(ids.dropLast()), Array(full.prefix(n - 1)))
        }
    }

    /// The WordPiece rules on a toy vocabulary: greedy longest match, "##" continuations, [UNK] for the whole word
    /// when a remainder has no piece, and for words over 100 characters.
    func testWordPieceGreedyLongestMatch() throws {
        let vocab = try WordPiece(tokens: ["[PAD]", "[UNK]", "un", "una", "##aff", "##able", "##a", "##ff", "x", "##x"])
        func pieces(_ w: String) -> [Int32] {
            var out: [Int32] = []
            vocab.encode(word: w, into: &out)
            return out
        }
        XCTAssertEqual(pieces("unaffable"), [3, 7, 5])  // "una" + "##ff" + "##able": longest prefix first
        XCTAssertEqual(pieces("unaff"), [3, 7])
        XCTAssertEqual(pieces("unb"), [1])
        XCTAssertEqual(pieces(String(repeating: "x", count: 100)), [8] + Array(repeating: 9, count: 99))
        XCTAssertEqual(pieces(String(repeating: "x", count: 101)), [1])
        // No backtracking: without "##ff" the greedy "una" leaves "ff", so the word is [UNK] although
        // "un" + "##aff" would cover it.
        let greedy = try WordPiece(tokens: ["[UNK]", "un", "una", "##aff", "##f"])
        var out: [Int32] = [7]
        greedy.encode(word: "unaff", into: &out)
        XCTAssertEqual(out, [7, 2, 4, 4])
        out = []
        greedy.encode(word: "unaffx", into: &out)
        XCTAssertEqual(out, [0])
    }

    /// Normaliser rules independent of the vocabulary.
    func testNormalizerWords() {
        XCTAssertEqual(
            BertNormalizer.words("Héllo,WORLD!  naïve\tcafé"), ["hello", ",", "world", "!", "naive", "cafe"])
        XCTAssertEqual(BertNormalizer.words("中文abc"), ["中", "文", "abc"])
        XCTAssertEqual(BertNormalizer.words("a\u{0}b\u{7}c\u{200B}d"), ["abcd"])
        XCTAssertEqual(BertNormalizer.words("x—y“z”"), ["x", "—", "y", "“", "z", "”"])
        XCTAssertEqual(BertNormalizer.words("İ"), ["i"])  // accents go (NFD) before lower-casing
    }
}
