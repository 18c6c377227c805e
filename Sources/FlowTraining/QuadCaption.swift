/// The quad-canvas text-to-image task: a 1×32×32 canvas with four 16×16 slots, each empty or holding one
/// MNIST digit, described by a caption that names every digit on it.
///
/// Slots in reading order: 0 top left (rows 0–15, cols 0–15), 1 top right (rows 0–15, cols 16–31),
/// 2 bottom left (rows 16–31, cols 0–15), 3 bottom right (rows 16–31, cols 16–31).
public enum QuadCategory: String, CaseIterable, Sendable {
    case single, two, column, row, count, empty
}

/// What a caption asks for. `slots[i]` is the digit in slot i or nil (empty). For `count` the slots are
/// free: `countDigit` appears in exactly `count` slots of the composer's choice and the rest are empty.
public struct QuadSpec: Hashable, Sendable {
    public var category: QuadCategory
    public var slots: [Int?]
    public var countDigit: Int?
    public var count: Int

    public init(category: QuadCategory, slots: [Int?] = [nil, nil, nil, nil], countDigit: Int? = nil, count: Int = 0) {
        self.category = category
        self.slots = slots
        self.countDigit = countDigit
        self.count = count
    }

    /// Digits per slot, filling a `count` spec's free slots from `free` (slot indices, the first `count` used).
    public func placed(free: [Int] = [0, 1, 2, 3]) -> [Int?] {
        guard category == .count, let d = countDigit else { return slots }
        var s: [Int?] = [nil, nil, nil, nil]
        for i in free.prefix(count) { s[i] = d }
        return s
    }

    /// True when `digits` (one entry per slot) satisfies the spec.
    public func isSatisfied(by digits: [Int?]) -> Bool {
        guard digits.count == 4 else { return false }
        if category == .count {
            return digits.allSatisfy { $0 == nil || $0 == countDigit } && digits.compactMap { $0 }.count == count
        }
        return digits == slots
    }
}

/// Word choices of one phrasing (everything a caption may vary without changing its meaning).
public struct QuadPhrasing: Hashable, Sendable {
    /// Digits as numerals (`7`, `7s`) rather than words (`seven`, `sevens`).
    public var numerals = false
    /// Article before a digit: 0 none, 1 `a`/`an`, 2 `the`.
    public var article = 1
    /// `the` before a position.
    public var positionArticle = true
    /// `upper`/`lower` rather than `top`/`bottom`.
    public var upperLower = false
    /// Trailing `corner` after a position.
    public var corner = false
    /// `at` rather than `in` before a position.
    public var at = false
    /// For `two`: name the later slot (reading order) first.
    public var swapped = false

    public init(
        numerals: Bool = false, article: Int = 1, positionArticle: Bool = true, upperLower: Bool = false,
        corner: Bool = false, at: Bool = false, swapped: Bool = false
    ) {
        self.numerals = numerals
        self.article = article
        self.positionArticle = positionArticle
        self.upperLower = upperLower
        self.corner = corner
        self.at = at
        self.swapped = swapped
    }

    /// Every combination of the choices (192 phrasings).
    public static let all: [QuadPhrasing] = {
        var out: [QuadPhrasing] = []
        for n in [false, true] {
            for a in 0...2 {
                for pa in [true, false] {
                    for ul in [false, true] {
                        for c in [false, true] {
                            for at in [false, true] {
                                for sw in [false, true] {
                                    out.append(
                                        QuadPhrasing(
                                            numerals: n, article: a, positionArticle: pa,
                                            upperLower: ul, corner: c, at: at, swapped: sw))
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }()
}

/// Caption grammar of the quad canvas: `caption(for:phrasing:)` writes, `QuadCaptionParser.parse` reads.
public enum QuadCaption {
    static let words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    static let plurals = ["zeros", "ones", "twos", "threes", "fours", "fives", "sixes", "sevens", "eights", "nines"]
    static let countWords = ["", "one", "two", "three", "four"]

    /// The caption of `spec` in `phrasing` (lower case; the parser accepts any case).
    public static func caption(for spec: QuadSpec, phrasing p: QuadPhrasing = QuadPhrasing()) -> String {
        func digit(_ d: Int) -> String {
            let w = p.numerals ? String(d) : words[d]
            switch p.article {
            case 1: return (d == 8 ? "an " : "a ") + w
            case 2: return "the " + w
            default: return w
            }
        }
        func position(_ slot: Int) -> String {
            let v = slot < 2 ? (p.upperLower ? "upper" : "top") : (p.upperLower ? "lower" : "bottom")
            let h = slot % 2 == 0 ? "left" : "right"
            return (p.positionArticle ? "the " : "") + v + " " + h + (p.corner ? " corner" : "")
        }
        let prep = p.at ? " at " : " in "
        let placed = spec.slots.enumerated().compactMap { i, d in d.map { (slot: i, digit: $0) } }
        switch spec.category {
        case .single:
            let s = placed[0]
            return digit(s.digit) + prep + position(s.slot)
        case .two:
            let order = p.swapped ? Array(placed.reversed()) : placed
            return order.map { digit($0.digit) + prep + position($0.slot) }.joined(separator: " and ")
        case .column:
            let side = placed[0].slot % 2 == 0 ? "left" : "right"
            return digit(placed[0].digit) + " above " + digit(placed[1].digit) + " on "
                + (p.positionArticle ? "the " : "") + side
        case .row:
            let v = placed[0].slot < 2 ? (p.upperLower ? "upper" : "top") : (p.upperLower ? "lower" : "bottom")
            return digit(placed[0].digit) + " next to " + digit(placed[1].digit) + " on "
                + (p.positionArticle ? "the " : "") + v + " row"
        case .count:
            let d = spec.countDigit ?? 0
            if spec.count == 1 { return "one " + (p.numerals ? String(d) : words[d]) }
            return countWords[spec.count] + " " + (p.numerals ? "\(d)s" : plurals[d])
        case .empty:
            return p.at ? "nothing" : ["empty canvas", "an empty canvas", "the empty canvas"][p.article]
        }
    }

    /// The distinct captions of `spec` over every phrasing, in a stable order.
    public static func captions(for spec: QuadSpec) -> [String] {
        var seen = Set<String>()
        return QuadPhrasing.all.map { caption(for: spec, phrasing: $0) }.filter { seen.insert($0).inserted }
    }

    /// Every spec of a category (for `two`, the first named digit is the earlier slot in reading order).
    public static func specs(_ category: QuadCategory) -> [QuadSpec] {
        var out: [QuadSpec] = []
        func put(_ pairs: [(Int, Int)]) -> [Int?] {
            var s: [Int?] = [nil, nil, nil, nil]
            for (slot, d) in pairs { s[slot] = d }
            return s
        }
        switch category {
        case .single:
            for slot in 0..<4 { for d in 0..<10 { out.append(QuadSpec(category: .single, slots: put([(slot, d)]))) } }
        case .two:
            for a in 0..<4 {
                for b in (a + 1)..<4 where b > a {
                    for d in 0..<10 {
                        for e in 0..<10 { out.append(QuadSpec(category: .two, slots: put([(a, d), (b, e)]))) }
                    }
                }
            }
        case .column, .row:
            let pairs = category == .column ? [(0, 2), (1, 3)] : [(0, 1), (2, 3)]
            for (a, b) in pairs {
                for d in 0..<10 {
                    for e in 0..<10 { out.append(QuadSpec(category: category, slots: put([(a, d), (b, e)]))) }
                }
            }
        case .count:
            for n in 1...4 { for d in 0..<10 { out.append(QuadSpec(category: .count, countDigit: d, count: n)) } }
        case .empty:
            out.append(QuadSpec(category: .empty))
        }
        return out
    }
}
