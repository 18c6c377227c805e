import FlowTensor
import Foundation

/// Reads a quad-canvas caption into its `QuadSpec` (case-insensitive; surrounding spaces and a final `.` ignored).
///
///     single  [art] D (in|at) [the] P                      D = numeral `7` or word `seven`
///     two     single and single                           (two different positions)
///     column  [art] D above [art] D on [the] (left|right)
///     row     [art] D next to [art] D on [the] (top|bottom|upper|lower) row    (the first on the left)
///     count   one D | (two|three|four) Ds                 Ds = `sevens`, `sixes`, `7s`, `7's`
///     empty   [art] empty canvas | nothing
///     P       (top|upper|bottom|lower) (left|right) [corner]        art = a | an | the
public enum QuadCaptionParser {
    /// The spec of `caption`, or an error naming what is wrong and what the grammar accepts.
    public static func parse(_ caption: String) throws -> QuadSpec {
        var text = caption.lowercased().trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasSuffix(".") { text.removeLast() }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        var c = Cursor(words: words)
        guard let spec = c.caption(), c.atEnd else {
            throw FlowError(
                "caption '\(caption)' is not in the quad-canvas grammar; write e.g. 'a 7 in the top left', "
                    + "'3 above 5 on the left', 'two sevens' or 'an empty canvas'")
        }
        return spec
    }

    /// A word → digit, nil for other words.
    static func digit(_ w: String) -> Int? {
        if w.count == 1, let d = Int(w) { return d }
        return QuadCaption.words.firstIndex(of: w)
    }

    /// A plural digit (`sevens`, `sixes`, `7s`, `7's`, `zeroes`) → digit.
    static func pluralDigit(_ w: String) -> Int? {
        if let i = QuadCaption.plurals.firstIndex(of: w) { return i }
        if w == "zeroes" { return 0 }
        for suffix in ["'s", "s"] where w.hasSuffix(suffix) {
            let stem = String(w.dropLast(suffix.count))
            if stem.count == 1, let d = Int(stem) { return d }
        }
        return nil
    }

    /// Recursive-descent state over the words.
    struct Cursor {
        let words: [String]
        var i = 0

        var atEnd: Bool { i == words.count }
        var peek: String? { i < words.count ? words[i] : nil }

        mutating func take(_ w: String) -> Bool {
            guard peek == w else { return false }
            i += 1
            return true
        }

        mutating func article() {
            if let w = peek, ["a", "an", "the"].contains(w) { i += 1 }
        }

        mutating func digit() -> Int? {
            let save = i
            article()
            if let w = peek, let d = QuadCaptionParser.digit(w) {
                i += 1
                return d
            }
            i = save
            return nil
        }

        /// `[the] (top|upper|bottom|lower) (left|right) [corner]` → slot.
        mutating func position() -> Int? {
            _ = take("the")
            guard let v = peek, let row = ["top": 0, "upper": 0, "bottom": 2, "lower": 2][v] else { return nil }
            i += 1
            guard let h = peek, let col = ["left": 0, "right": 1][h] else { return nil }
            i += 1
            _ = take("corner")
            return row + col
        }

        /// `[art] D (in|at) P` → (slot, digit).
        mutating func placement() -> (slot: Int, digit: Int)? {
            guard let d = digit(), take("in") || take("at"), let s = position() else { return nil }
            return (s, d)
        }

        mutating func caption() -> QuadSpec? {
            let start = i
            if let s = empty() { return s }
            i = start
            if let s = count() { return s }
            i = start
            guard let first = digit() else { return nil }
            if take("above") { return column(top: first) }
            if take("next") { return take("to") ? row(left: first) : nil }
            i = start
            guard let a = placement() else { return nil }
            var slots: [Int?] = [nil, nil, nil, nil]
            slots[a.slot] = a.digit
            if atEnd { return QuadSpec(category: .single, slots: slots) }
            guard take("and"), let b = placement(), b.slot != a.slot else { return nil }
            slots[b.slot] = b.digit
            return QuadSpec(category: .two, slots: slots)
        }

        mutating func empty() -> QuadSpec? {
            if take("nothing") { return QuadSpec(category: .empty) }
            article()
            return take("empty") && take("canvas") ? QuadSpec(category: .empty) : nil
        }

        mutating func count() -> QuadSpec? {
            guard let w = peek, let n = ["one": 1, "two": 2, "three": 3, "four": 4][w] else { return nil }
            i += 1
            guard let d = peek else { return nil }
            let digit = n == 1 ? QuadCaptionParser.digit(d) : QuadCaptionParser.pluralDigit(d)
            guard let digit else { return nil }
            i += 1
            return QuadSpec(category: .count, countDigit: digit, count: n)
        }

        mutating func column(top: Int) -> QuadSpec? {
            guard let bottom = digit(), take("on") else { return nil }
            _ = take("the")
            guard let side = peek, let col = ["left": 0, "right": 1][side] else { return nil }
            i += 1
            var slots: [Int?] = [nil, nil, nil, nil]
            slots[col] = top
            slots[col + 2] = bottom
            return QuadSpec(category: .column, slots: slots)
        }

        mutating func row(left: Int) -> QuadSpec? {
            guard let right = digit(), take("on") else { return nil }
            _ = take("the")
            guard let v = peek, let r = ["top": 0, "upper": 0, "bottom": 2, "lower": 2][v] else { return nil }
            i += 1
            guard take("row") else { return nil }
            var slots: [Int?] = [nil, nil, nil, nil]
            slots[r] = left
            slots[r + 1] = right
            return QuadSpec(category: .row, slots: slots)
        }
    }
}
