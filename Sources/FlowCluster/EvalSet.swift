import FlowSampler
import FlowTensor
import FlowText
import Foundation

/// What to sample: N class-conditional samples (balanced or random labels) or a prompt set.
///
/// The label (and noise, via `Noise.fill(seed:index:)`) of sample i depends only on (seed, i), so
/// any sharding reproduces the same samples. Shards are contiguous index ranges whose size is a
/// multiple of the batch, so batch composition is the same for 1 or N workers.
///
/// A prompt set of P prompts with K images per prompt has N = P·K samples in prompt-major order: sample
/// i = p·K + k shows prompt p; its label is p (so labels files and `samples.npz` identify the prompt).
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
    /// Number of classes K (labels 0..<K); 0 for prompt sets.
    public var classes: Int
    /// Label mode for class-conditional sets.
    public var labelMode: LabelMode
    /// Seed of noise and random labels.
    public var seed: UInt64
    /// Prompt texts, one per prompt (empty for class-conditional).
    public var prompts: [String]
    /// The parsed prompt entries (id, text, category, other fields), same order as `prompts`.
    public var promptEntries: [PromptEntry]
    /// Images per prompt K (1 for class-conditional sets).
    public var imagesPerPrompt: Int

    /// A class-conditional set.
    public init(samples: Int, classes: Int, labelMode: LabelMode = .balanced, seed: UInt64) throws {
        guard samples > 0 else { throw FlowError("\(.samples) must be positive (got \(samples))") }
        guard classes > 0 else {
            throw FlowError("the model has \(classes) classes; class-conditional sampling needs at least one")
        }
        self.samples = samples
        self.classes = classes
        self.labelMode = labelMode
        self.seed = seed
        self.prompts = []
        self.promptEntries = []
        self.imagesPerPrompt = 1
        self.id = "classes-\(samples)-k\(classes)-\(labelMode.rawValue)-s\(seed)"
    }

    /// A text-to-image set from a prompt file (plain text, JSONL, TSV or CSV: `PromptSet.load`).
    public init(promptFile: String, imagesPerPrompt: Int = 1, seed: UInt64) throws {
        try self.init(
            entries: try PromptSet.load(promptFile), imagesPerPrompt: imagesPerPrompt, seed: seed,
            source: promptFile)
    }

    /// A text-to-image set from parsed prompt entries.
    public init(entries: [PromptEntry], imagesPerPrompt: Int = 1, seed: UInt64, source: String = "prompts") throws {
        guard !entries.isEmpty else { throw FlowError("\(source): no prompts found") }
        guard imagesPerPrompt >= 1, imagesPerPrompt <= 1 << 16 else {
            throw FlowError("images per prompt must be in 1…65536 (got \(imagesPerPrompt))")
        }
        let (n, overflow) = entries.count.multipliedReportingOverflow(by: imagesPerPrompt)
        guard !overflow, n <= Bounds.maxSamples else {
            throw FlowError(
                "\(source): \(entries.count) prompts × \(imagesPerPrompt) images is over the "
                    + "\(Bounds.maxSamples)-sample limit; use fewer images per prompt")
        }
        self.samples = n
        self.classes = 0
        self.labelMode = .balanced
        self.seed = seed
        self.promptEntries = entries
        self.prompts = entries.map(\.text)
        self.imagesPerPrompt = imagesPerPrompt
        let digest = CRC32.hex(Array(prompts.joined(separator: "\n").utf8))
        let k = imagesPerPrompt == 1 ? "" : "-k\(imagesPerPrompt)"
        self.id = "prompts-\(prompts.count)\(k)-\(digest)-s\(seed)"
    }

    /// True for a prompt (text-to-image) set.
    public var isText: Bool { !prompts.isEmpty }

    /// Label of sample `index`: its class, or for prompt sets its prompt index p = index / K.
    public func label(_ index: Int) -> Int32 {
        if isText { return Int32(index / imagesPerPrompt) }
        switch labelMode {
        case .balanced: return Labels.balanced(index: index, classes: classes)
        case .random: return Labels.random(seed: seed, index: index, classes: classes)
        }
    }

    /// Labels of samples `first ..< first+count`.
    public func labels(first: Int, count: Int) -> [Int32] { (first..<(first + count)).map(label) }

    /// Prompt text of each sample `first ..< first+count` (prompt sets; what a shard's assignment carries).
    public func samplePrompts(first: Int, count: Int) -> [String] {
        (first..<(first + count)).map { prompts[$0 / imagesPerPrompt] }
    }

    /// Labels of a prompt run's samples `range` from the journal header alone: the prompt index i / K.
    public static func promptLabels(_ range: Range<Int>, imagesPerPrompt k: Int) -> [Int32] {
        range.map { Int32($0 / max(1, k)) }
    }

    /// Fails with a clear error if this set needs text conditioning the model does not have.
    public func check(modelHasText: Bool, modelSpec: String) throws {
        if isText && !modelHasText {
            throw FlowError(
                "\(modelSpec) has no text conditioning, so a prompt file cannot be sampled; use a "
                    + "caption-conditioned (PixArt-α) model, or class-conditional samples without a prompt file")
        }
    }

    /// Contiguous shards of `shardSize` samples (the last one may be shorter).
    public func shards(shardSize: Int) -> [Range<Int>] {
        stride(from: 0, to: samples, by: shardSize).map { $0..<min($0 + shardSize, samples) }
    }
}
