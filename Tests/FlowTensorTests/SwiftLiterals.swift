/// The string literals of Swift source, for rules about what library messages may contain: comments are skipped,
/// escapes are resolved to the escaped character, and the code of an interpolation `\( … )` is scanned for nested
/// literals while the interpolation itself stands as U+0001 in its literal's text.
struct SwiftLiterals {
    struct Literal: Equatable {
        let line: Int
        let text: String
    }

    static func scan(_ source: String) -> [Literal] {
        var lexer = Lexer(bytes: Array(source.utf8))
        lexer.code(untilParen: false)
        return lexer.found
    }

    private struct Lexer {
        let bytes: [UInt8]
        var i = 0
        var line = 1
        var found: [Literal] = []

        init(bytes: [UInt8]) { self.bytes = bytes }

        func at(_ k: Int) -> UInt8? { k < bytes.count ? bytes[k] : nil }

        /// Code up to the end, or up to the `)` that closes an interpolation.
        mutating func code(untilParen: Bool) {
            var depth = 0
            while let c = at(i) {
                if c == ascii("\n") {
                    line += 1
                    i += 1
                } else if c == ascii("/") && at(i + 1) == ascii("/") {
                    while let d = at(i), d != ascii("\n") { i += 1 }
                } else if c == ascii("/") && at(i + 1) == ascii("*") {
                    blockComment()
                } else if c == ascii("\"") || (c == ascii("#") && rawQuoteFollows()) {
                    literal()
                } else if untilParen && c == ascii("(") {
                    depth += 1
                    i += 1
                } else if untilParen && c == ascii(")") {
                    i += 1
                    if depth == 0 { return }
                    depth -= 1
                } else {
                    i += 1
                }
            }
        }

        /// A `/* … */` comment (they nest in Swift).
        mutating func blockComment() {
            var depth = 0
            while let c = at(i) {
                if c == ascii("/") && at(i + 1) == ascii("*") {
                    depth += 1
                    i += 2
                } else if c == ascii("*") && at(i + 1) == ascii("/") {
                    depth -= 1
                    i += 2
                    if depth == 0 { return }
                } else {
                    if c == ascii("\n") { line += 1 }
                    i += 1
                }
            }
        }

        func rawQuoteFollows() -> Bool {
            var k = i
            while at(k) == ascii("#") { k += 1 }
            return at(k) == ascii("\"")
        }

        func hashes(_ n: Int, from k: Int) -> Bool { (0..<n).allSatisfy { at(k + $0) == ascii("#") } }

        /// A `"…"`, `"""…"""` or raw `#"…"#` literal starting at `i`.
        mutating func literal() {
            var n = 0
            while at(i) == ascii("#") {
                n += 1
                i += 1
            }
            let multi = at(i + 1) == ascii("\"") && at(i + 2) == ascii("\"")
            i += multi ? 3 : 1
            let start = line
            var text: [UInt8] = []
            while let c = at(i) {
                if c == ascii("\\") && hashes(n, from: i + 1) {
                    let j = i + 1 + n
                    if at(j) == ascii("(") {
                        i = j + 1
                        code(untilParen: true)
                        text.append(1)
                    } else {
                        if let e = at(j) { text.append(e == ascii("\n") ? ascii(" ") : e) }
                        i = j + 1
                    }
                    continue
                }
                let closing = multi ? (at(i + 1) == ascii("\"") && at(i + 2) == ascii("\"")) : true
                if c == ascii("\"") && closing && hashes(n, from: i + (multi ? 3 : 1)) {
                    i += (multi ? 3 : 1) + n
                    found.append(Literal(line: start, text: String(decoding: text, as: UTF8.self)))
                    return
                }
                if c == ascii("\n") { line += 1 }
                text.append(c)
                i += 1
            }
        }
    }
}

private func ascii(_ s: Unicode.Scalar) -> UInt8 { UInt8(s.value) }
