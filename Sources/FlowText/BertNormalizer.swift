import Foundation

/// BERT's text normalisation and word splitting (HuggingFace `BertNormalizer` + `BertPreTokenizer`), uncased:
///
/// 1. clean text: drop U+0000, U+FFFD and control characters, turn whitespace into spaces;
/// 2. put spaces around CJK ideographs;
/// 3. strip accents: NFD, then drop non-spacing marks;
/// 4. lower-case (full per-character mapping, e.g. "İ" → "i̇");
/// 5. split on whitespace, and make every punctuation character a word of its own.
///
/// Character classes come from `BertCharacterTable` (measured from the `tokenizers` library).
public enum BertNormalizer {
    /// Steps 1–4: the normalised text as Unicode scalars.
    public static func normalize(_ text: String) -> [Unicode.Scalar] {
        var cleaned = String.UnicodeScalarView()
        var allASCII = true
        for s in text.unicodeScalars {
            switch BertCharacterTable.classify(s) {
            case .removed:
                continue
            case .whitespace:
                cleaned.append(" ")
            case .punctuation, .other:
                if BertCharacterTable.isChinese(s) {
                    cleaned.append(" ")
                    cleaned.append(s)
                    cleaned.append(" ")
                } else {
                    cleaned.append(s)
                }
                if !s.isASCII { allASCII = false }
            }
        }
        // NFD leaves ASCII unchanged; skip Foundation for the common case.
        let decomposed = allASCII ? cleaned : String(cleaned).decomposedStringWithCanonicalMapping.unicodeScalars
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(decomposed.count)
        for s in decomposed {
            if s.isASCII {
                out.append(s.value >= 0x41 && s.value <= 0x5A ? Unicode.Scalar(s.value + 32)! : s)
                continue
            }
            // After NFD the only removable scalars are non-spacing marks (controls went in step 1).
            if BertCharacterTable.classify(s) == .removed { continue }
            out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
        }
        return out
    }

    /// Step 5 on normalised scalars: the words, in order.
    public static func splitWords(_ scalars: [Unicode.Scalar]) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            if !current.isEmpty {
                words.append(String(current))
                current = String.UnicodeScalarView()
            }
        }
        for s in scalars {
            switch BertCharacterTable.classify(s) {
            case .whitespace:
                flush()
            case .punctuation:
                flush()
                words.append(String(s))
            case .removed, .other:
                current.append(s)
            }
        }
        flush()
        return words
    }

    /// Normalise and split one text (without special-token handling).
    public static func words(_ text: String) -> [String] { splitWords(normalize(text)) }
}
