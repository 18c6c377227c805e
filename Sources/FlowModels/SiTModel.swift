import FlowTensor

/// A SiT velocity predictor or FlowTurbo velocity refiner with the official architecture and tensor names.
///
/// Forward: patchify (+ the previous velocity's channels for a refiner) → linear embed + fixed
/// sin-cos positions → `depth` adaLN-Zero blocks → adaLN final layer → unpatchify; keep the first
/// C channels (learn_sigma); a refiner adds the previous velocity (v̂ = r(x, v, t, y) + v).
/// Conditioning c = TimestepEmbedder(t) + LabelEmbedder(y); label `numClasses` is the null class.
public final class SiTModel: VelocityField {
    public let config: SiTConfig
    public let weights: SiTWeights
    /// Where the model was loaded from (empty for in-memory models).
    public let source: String

    public init(weights: SiTWeights, source: String = "") {
        self.config = weights.config
        self.weights = weights
        self.source = source
    }

    /// Loads a checkpoint: config from `__metadata__` when present, otherwise derived from the tensor shapes
    /// (`heads` and `refiner` settle what shapes cannot).
    public static func load(_ path: String, heads: Int? = nil, refiner: Bool? = nil) throws -> SiTModel {
        let f = try SafeTensors.load(path)
        var config: SiTConfig
        if let c = try SiTConfig.fromMetadata(f.metadata, source: path) {
            config = c
            if let h = heads { config.numHeads = h }
            if let r = refiner, r != c.isRefiner {
                throw FlowError(
                    "\(path): metadata says this is a \(c.isRefiner ? "refiner" : "predictor"); \(r ? "drop" : "use it as") \(.refiner)"
                )
            }
        } else {
            config = try SiTConfig.derive(from: f, heads: heads, refiner: refiner)
        }
        try config.validate(source: path)
        try config.checkDepth(against: f)
        return SiTModel(weights: try SiTWeights.load(f, config: config), source: path)
    }

    public var sampleShape: [Int] { [config.inChannels, config.inputSize, config.inputSize] }
    public var numClasses: Int { config.numClasses }
    public var isRefiner: Bool { config.isRefiner }
    public var flopsPerRow: Double { config.flopsPerSample }

    public func makeEvaluator(maxRows: Int, times: [Float]) -> VelocityEvaluator {
        SiTEvaluator(model: self, maxRows: maxRows, times: times)
    }

    /// Convenience forward on tensors (allocates; for the CLI and tests): x (N,C,H,W), t (N), y (N), v like x for refiners.
    /// `rawOffset` returns a refiner's network output r instead of r + v.
    public func forward(x: Tensor, t: [Float], y: [Int32], v: Tensor? = nil, rawOffset: Bool = false) throws -> Tensor {
        let n = t.count
        let shape = [n] + sampleShape
        guard x.shape == shape else {
            throw FlowError("x has shape \(x.shapeDescription), expected \(shape) for this model (N, C, H, W)")
        }
        guard y.count == n else { throw FlowError("y has \(y.count) labels, expected \(n) (one per row of x)") }
        for l in y where l < 0 || Int(l) > numClasses {
            throw FlowError("label \(l) is out of range 0...\(numClasses) (\(numClasses) = null class)")
        }
        if isRefiner {
            guard let v, v.shape == shape else {
                throw FlowError("a refiner needs \(.v) with the same shape as x \(shape)")
            }
        } else if v != nil {
            throw FlowError(
                "\(.v) is only for refiners; this checkpoint is a predictor (pass \(.refiner) if it is a refiner)")
        }
        let ev = SiTEvaluator(model: self, maxRows: n, times: [])
        ev.addsPrevious = !rawOffset
        var out = Tensor(zeros: shape)
        x.data.withUnsafeBufferPointer { xp in
            t.withUnsafeBufferPointer { tp in
                y.withUnsafeBufferPointer { yp in
                    out.data.withUnsafeMutableBufferPointer { op in
                        if let v {
                            v.data.withUnsafeBufferPointer { vp in
                                ev.forward(
                                    x: xp.baseAddress!, v: vp.baseAddress!, t: tp.baseAddress!, labels: yp.baseAddress!,
                                    rows: n, out: op.baseAddress!)
                            }
                        } else {
                            ev.forward(
                                x: xp.baseAddress!, v: nil, t: tp.baseAddress!, labels: yp.baseAddress!, rows: n,
                                out: op.baseAddress!)
                        }
                    }
                }
            }
        }
        return out
    }
}
