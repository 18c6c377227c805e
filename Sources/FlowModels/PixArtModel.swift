import FlowTensor

/// A PixArt-α text-conditioned transformer (velocity predictor) or its FlowTurbo refiner, with the official
/// architecture and state-dict names.
///
/// Forward: patchify (+ the previous velocity's channels for a refiner) → linear embed + fixed sin-cos positions →
/// `depth` PixArt blocks (adaLN-single self-attention, masked cross-attention to the projected caption, MLP) →
/// T2I final layer modulated by the timestep embedding → unpatchify; keep the first C channels (pred_sigma);
/// a refiner adds the previous velocity (v̂ = r(x, v, t, caption) + v).
public final class PixArtModel: CaptionConditionedField {
    public let config: PixArtConfig
    public let weights: PixArtWeights
    /// Where the model was loaded from (empty for in-memory models).
    public let source: String

    public init(weights: PixArtWeights, source: String = "") {
        self.config = weights.config
        self.weights = weights
        self.source = source
    }

    /// Loads a checkpoint: config from `__metadata__` when present, otherwise derived from the tensor shapes
    /// (`heads` and `refiner` settle what shapes cannot; `inputSize` only matters for a file without pos_embed).
    public static func load(
        _ path: String, heads: Int? = nil, refiner: Bool? = nil, inputSize: Int? = nil
    ) throws
        -> PixArtModel
    {
        try load(SafeTensors.load(path), heads: heads, refiner: refiner, inputSize: inputSize)
    }

    /// The same from an already parsed file.
    public static func load(
        _ f: SafeTensorsFile, heads: Int? = nil, refiner: Bool? = nil, inputSize: Int? = nil
    ) throws
        -> PixArtModel
    {
        let path = f.path
        var config: PixArtConfig
        if let c = try PixArtConfig.fromMetadata(f.metadata, source: path) {
            config = c
            if let h = heads { config.numHeads = h }
            if let r = refiner, r != c.isRefiner {
                let kind = c.isRefiner ? "refiner" : "predictor"
                throw FlowError("\(path): metadata says this is a \(kind); load it as a \(kind)")
            }
        } else {
            config = try PixArtConfig.derive(from: f, heads: heads, refiner: refiner, inputSize: inputSize)
        }
        try config.validate(source: path)
        return PixArtModel(weights: try PixArtWeights.load(f, config: config), source: path)
    }

    public var sampleShape: [Int] { [config.inChannels, config.inputSize, config.inputSize] }
    /// No class labels: conditioning is the caption.
    public var numClasses: Int { 0 }
    public var isRefiner: Bool { config.isRefiner }
    public var flopsPerRow: Double { config.flopsPerSample }
    public var captionChannels: Int { config.captionChannels }
    public var captionTokens: Int { config.captionTokens }

    public func makeEvaluator(maxRows: Int, times: [Float]) -> VelocityEvaluator {
        PixArtEvaluator(model: self, maxRows: maxRows, times: times)
    }

    public func makeCaptionEvaluator(
        maxRows: Int, times: [Float], maxCaptionLength: Int
    )
        -> CaptionConditionedEvaluator
    {
        PixArtEvaluator(model: self, maxRows: maxRows, times: times, maxCaptionLength: maxCaptionLength)
    }

    /// Convenience forward on tensors (allocates; for the CLI and tests): x (N,C,H,W), t (N), caption (N,L,C_caption)
    /// token features, mask (N·L, non-zero = real token), v like x for refiners. `rawOffset` returns a refiner's r.
    public func forward(
        x: Tensor, t: [Float], caption: Tensor, mask: [Int32], v: Tensor? = nil,
        rawOffset: Bool = false
    ) throws -> Tensor {
        let n = t.count
        let shape = [n] + sampleShape
        guard x.shape == shape else {
            throw FlowError("x has shape \(x.shapeDescription), expected \(shape) for this model (N, C, H, W)")
        }
        let cs = caption.shape
        guard cs.count == 3, cs[0] == n, cs[2] == captionChannels, cs[1] > 0 else {
            throw FlowError(
                "caption has shape \(caption.shapeDescription), expected (\(n), L, \(captionChannels)) "
                    + "token features")
        }
        let l = caption.shape[1]
        guard mask.count == n * l else {
            throw FlowError("caption mask has \(mask.count) entries, expected (\(n), \(l)) like the caption's tokens")
        }
        if isRefiner {
            guard let v, v.shape == shape else {
                throw FlowError("a refiner needs v with the same shape as x \(shape)")
            }
        } else if v != nil {
            throw FlowError("v is only for refiners; this checkpoint is a predictor")
        }
        let ev = PixArtEvaluator(model: self, maxRows: n, times: [], maxCaptionLength: l)
        ev.addsPrevious = !rawOffset
        var out = Tensor(zeros: shape)
        caption.data.withUnsafeBufferPointer { cp in
            mask.withUnsafeBufferPointer { mp in
                ev.setCaptions(features: cp.baseAddress!, mask: mp.baseAddress!, length: l, captionRows: n, rows: n)
            }
        }
        x.data.withUnsafeBufferPointer { xp in
            t.withUnsafeBufferPointer { tp in
                out.data.withUnsafeMutableBufferPointer { op in
                    if let v {
                        v.data.withUnsafeBufferPointer { vp in
                            ev.forward(x: xp.baseAddress!, v: vp.baseAddress!, t: tp.baseAddress!, out: op.baseAddress!)
                        }
                    } else {
                        ev.forward(x: xp.baseAddress!, v: nil, t: tp.baseAddress!, out: op.baseAddress!)
                    }
                }
            }
        }
        return out
    }
}
