import FlowTensor
import FlowSampler
import Foundation

/// What to sample: N class-conditional samples (balanced or random labels) or a prompt list.
///
/// The label (and noise, via `Noise.fill(seed:index:)`) of sample i depends only on (seed, i), so
/// any sharding reproduces the same samples. Shards are contiguous index ranges whose size is a
/// multiple of the batch, so batch composition is the same for 1 or N workers.
public struct EvalSet: Equatable {
    /// How class labels are drawn.
    public enum LabelMode: String, Equatable, CaseIterable {
        /// label = i mod K (what evaluation suites use).
        case balanced
        /// Counter-based random label from (seed, i).
        case random
    }

    /// Stable id recorded in the journal and assignments, e.g. "classes-1000-k10-balanced-s0".
    public var id: String
    /// Number of samples.
    public var samples: Int
    /// Number of classes K (labels 0..<K).
    public var classes: Int
    /// Label mode for class-conditional sets.
    public var labelMode: LabelMode
    /// Seed of noise and random labels.
    public var seed: UInt64
    /// Prompts for text-to-image sets (empty for class-conditional).
    public var prompts: [String]

    /// A class-conditional set.
    public init(samples: Int, classes: Int, labelMode: LabelMode = .balanced, seed: UInt64) throws {
        guard samples > 0 else { throw FlowError("--samples must be positive (got \(samples))") }
        guard classes > 0 else { throw FlowError("the model has \(classes) classes; class-conditional sampling needs at least one") }
        self.samples = samples; self.classes = classes; self.labelMode = labelMode; self.seed = seed; self.prompts = []
        self.id = "classes-\(samples)-k\(classes)-\(labelMode.rawValue)-s\(seed)"
    }

    /// A text-to-image set from a prompt file; prompts are sharded like samples.
    public init(promptFile: String, seed: UInt64) throws {
        let prompts = try EvalSet.readPrompts(promptFile)
        guard !prompts.isEmpty else { throw FlowError("\(promptFile): no prompts found; write one prompt per line or JSONL {\"id\",\"prompt\"}") }
        self.samples = prompts.count; self.classes = 0; self.labelMode = .balanced; self.seed = seed; self.prompts = prompts
        self.id = "prompts-\(prompts.count)-\(CRC32.hex(Array(prompts.joined(separator: "\n").utf8)))-s\(seed)"
    }

    /// True for a prompt (text-to-image) set.
    public var isText: Bool { !prompts.isEmpty }

    /// Label of sample `index` (class-conditional sets).
    public func label(_ index: Int) -> Int32 {
        switch labelMode {
        case .balanced: return Labels.balanced(index: index, classes: classes)
        case .random: return Labels.random(seed: seed, index: index, classes: classes)
        }
    }

    /// Labels of samples `first ..< first+count`.
    public func labels(first: Int, count: Int) -> [Int32] { isText ? [] : (first..<(first + count)).map(label) }

    /// Fails with a clear error if this set needs text conditioning the model does not have.
    public func check(modelHasText: Bool, modelSpec: String) throws {
        if isText && !modelHasText {
            throw FlowError("\(modelSpec) has no text conditioning, so a prompt file cannot be sampled; use --samples N with a class-conditional model (text models come later)")
        }
    }

    /// Contiguous shards of `shardSize` samples (the last one may be shorter).
    public func shards(shardSize: Int) -> [Range<Int>] {
        stride(from: 0, to: samples, by: shardSize).map { $0..<min($0 + shardSize, samples) }
    }

    /// Reads a prompt file: one prompt per line, or JSONL objects with "prompt" (and optional "id").
    /// Blank lines are skipped.
    public static func readPrompts(_ path: String) throws -> [String] {
        let bytes = try FileIO.read(path)
        guard let text = String(bytes: bytes, encoding: .utf8) else { throw FlowError("\(path): not UTF-8 text; save the prompt file as UTF-8") }
        var out: [String] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            if line.hasPrefix("{") {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let prompt = obj["prompt"] as? String else {
                    throw FlowError("\(path):\(n + 1): JSONL line without a string \"prompt\" field; expected {\"id\": ..., \"prompt\": \"...\"}")
                }
                out.append(prompt)
            } else {
                out.append(line)
            }
        }
        return out
    }
}
