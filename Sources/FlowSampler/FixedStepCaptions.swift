import FlowModels
import FlowTensor

/// One batch's captions for a caption-conditioned program: `length` token features per row (row-major
/// (count, length, C)) and a (count, length) mask, non-zero = real token.
public struct CaptionInput {
    public var features: UnsafePointer<Float>
    public var mask: UnsafePointer<Int32>
    public var length: Int
    public init(features: UnsafePointer<Float>, mask: UnsafePointer<Int32>, length: Int) {
        self.features = features
        self.mask = mask
        self.length = length
    }
}

extension FixedStepProgram {
    /// True when the predictor is conditioned on captions (PixArt-α) rather than class labels.
    public var takesCaptions: Bool { predictorCaptions != nil }

    /// `run` for a caption-conditioned predictor: row r of the batch is conditioned on caption r; with guidance
    /// the null half uses the model's null caption (`y_embedding`, all tokens real), as PixArt-α's guidance does.
    /// The caption-only work (caption projection, every block's K/V) runs once here, then no heap allocation.
    public func run(
        seed: UInt64, firstIndex: Int, count: Int, captions: CaptionInput,
        out: UnsafeMutablePointer<Float>
    ) -> RunStats {
        precondition(
            captions.length <= maxCaptionLength,
            "SamplingProgram.run: captions of \(captions.length) tokens > \(maxCaptionLength)")
        captionInput = captions
        defer { captionInput = nil }
        return run(seed: seed, firstIndex: firstIndex, count: count, labels: nullLabels, out: out)
    }

    /// Hands the current batch's captions (none: every row takes the null caption) to a caption evaluator.
    func setCaptions(_ e: CaptionConditionedEvaluator?, count: Int, rows: Int) {
        e?.setCaptions(
            features: captionInput?.features, mask: captionInput?.mask, length: captionInput?.length ?? 0,
            captionRows: captionInput == nil ? 0 : count, rows: rows)
    }

    /// A field's evaluator for the program, and the same object as a caption evaluator when it is one.
    static func evaluator(
        _ f: VelocityField, rows: Int, times: [Float], captionLength: Int
    )
        -> (VelocityEvaluator, CaptionConditionedEvaluator?)
    {
        if let c = f as? CaptionConditionedField {
            let e = c.makeCaptionEvaluator(maxRows: rows, times: times, maxCaptionLength: captionLength)
            return (e, e)
        }
        return (f.makeEvaluator(maxRows: rows, times: times), nil)
    }
}
