import Foundation

/// GenEval-style prompt adherence for quad-canvas prompts: a sample is correct when every slot matches its
/// spec (the named digit or empty; for `count`, exactly `count` copies of the digit and every other slot empty).
/// Pure scoring: per-slot predictions in, fractions out; the slot classifier lives in `SlotClassifier`.
public struct PromptAdherence: Equatable {
    /// Fraction of samples judged correct.
    public var overall: Double
    /// Fraction correct per category present (`single`, `two`, `column`, `row`, `count`, `empty`).
    public var byCategory: [String: Double]
    /// Samples scored.
    public var samples: Int
    /// Samples per category present.
    public var categorySamples: [String: Int]

    /// True when `predicted` (one entry per slot, nil = empty) satisfies `spec`.
    public static func isCorrect(_ spec: QuadSpec, predicted: [Int?]) -> Bool {
        spec.isSatisfied(by: predicted)
    }

    /// Scores sample i against `specs[i]`.
    public init(specs: [QuadSpec], predicted: [[Int?]]) {
        precondition(specs.count == predicted.count, "PromptAdherence: one spec per sample")
        var right = [String: Int]()
        var total = [String: Int]()
        var all = 0
        for (spec, p) in zip(specs, predicted) {
            let c = spec.category.rawValue
            total[c, default: 0] += 1
            if PromptAdherence.isCorrect(spec, predicted: p) {
                right[c, default: 0] += 1
                all += 1
            }
        }
        samples = specs.count
        overall = specs.isEmpty ? 0 : Double(all) / Double(specs.count)
        categorySamples = total
        byCategory = total.mapValues { _ in 0 }
        for (c, n) in total { byCategory[c] = Double(right[c, default: 0]) / Double(n) }
    }

    /// Specs of every prompt, or nil when any prompt does not parse in the quad-canvas grammar.
    public static func specs(_ prompts: [String]) -> [QuadSpec]? {
        var out: [QuadSpec] = []
        for p in prompts {
            guard let s = try? QuadCaptionParser.parse(p) else { return nil }
            out.append(s)
        }
        return out
    }

    /// Sample i's prompt index when each prompt has `imagesPerPrompt` consecutive samples.
    public static func promptIndex(sample i: Int, imagesPerPrompt k: Int) -> Int { i / max(k, 1) }

    /// The `prompt_adherence` object of report.json: `overall`, `by_category`, `samples`.
    public var json: [String: Any] {
        ["overall": overall, "by_category": byCategory, "samples": samples]
    }

    /// A Markdown section for report.md.
    public var markdown: String {
        var s = "\n## Prompt adherence\n\n| category | samples | correct |\n|---|---|---|\n"
        for c in QuadCategory.allCases.map(\.rawValue) {
            guard let f = byCategory[c] else { continue }
            s += "| \(c) | \(categorySamples[c] ?? 0) | \(String(format: "%.4f", f)) |\n"
        }
        s += "| overall | \(samples) | \(String(format: "%.4f", overall)) |\n"
        return s
    }
}
