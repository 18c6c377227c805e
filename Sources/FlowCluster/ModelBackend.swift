import FlowModels
import FlowProto
import FlowSampler
import FlowTensor
import FlowText

/// The real worker backend: models loaded with `ModelLoader.load`, programs from `SamplingProgram`.
///
/// A caption-conditioned predictor (PixArt-α) also loads the MiniLM text encoder and turns each shard's prompts
/// into caption features (`PromptCaptions`); its digest travels as the `text_encoder` model.
public final class ModelBackend: WorkerBackend {
    public let predictor: VelocityField
    public let refiner: VelocityField?
    public let models: [Flowturbo_V1_ModelDigest]
    /// The prompt encoder of a caption-conditioned predictor (nil for class-conditional models).
    public let prompts: PromptCaptions?
    public var hasTextConditioning: Bool { prompts != nil }

    /// Loads the predictor (and optional refiner) from specs ("gmm:synthetic", a safetensors path), and for a
    /// caption-conditioned predictor the text encoder from `textEncoder` (default `Models/minilm`).
    public init(model: String, refiner refinerSpec: String?, textEncoder: String? = nil) throws {
        predictor = try ModelLoader.load(model, refiner: false)
        refiner = try refinerSpec.map { try ModelLoader.load($0, refiner: true) }
        var digests = try ModelBackend.digests(model: model, refiner: refinerSpec)
        if let field = predictor as? CaptionConditionedField {
            let directory = textEncoder ?? MiniLMEncoder.defaultDirectory
            let encoder = try MiniLMEncoder.load(directory: directory)
            try ModelBackend.checkCaptionChannels(field, encoderChannels: encoder.config.hidden, model: model)
            prompts = PromptCaptions(encoder: encoder, length: field.captionTokens)
            digests.append(try ModelBackend.textEncoderDigest(textEncoder))
        } else {
            prompts = nil
        }
        models = digests
    }

    /// Digest records of a predictor and optional refiner, as assignments and hellos carry them.
    public static func digests(model: String, refiner: String?) throws -> [Flowturbo_V1_ModelDigest] {
        var out: [Flowturbo_V1_ModelDigest] = []
        var p = Flowturbo_V1_ModelDigest()
        p.spec = model
        p.sha256 = try ModelLoader.digest(model)
        p.role = "predictor"
        out.append(p)
        if let r = refiner {
            var d = Flowturbo_V1_ModelDigest()
            d.spec = r
            d.sha256 = try ModelLoader.digest(r)
            d.role = "refiner"
            out.append(d)
        }
        return out
    }

    /// The `text_encoder` digest record of a MiniLM folder (nil = the default `Models/minilm`, spec "minilm").
    public static func textEncoderDigest(_ directory: String?) throws -> Flowturbo_V1_ModelDigest {
        var d = Flowturbo_V1_ModelDigest()
        d.spec = directory ?? "minilm"
        d.sha256 = try MiniLMEncoder.digest(directory: directory ?? MiniLMEncoder.defaultDirectory)
        d.role = "text_encoder"
        return d
    }

    /// Refuses a caption-conditioned model whose caption projection does not read MiniLM token features.
    public static func checkCaptionChannels(
        _ field: CaptionConditionedField, encoderChannels: Int = 384,
        model: String
    ) throws {
        guard field.captionChannels == encoderChannels else {
            throw FlowError(
                "\(model) reads \(field.captionChannels)-channel caption features but the MiniLM text "
                    + "encoder gives \(encoderChannels); prompt runs need a model trained on MiniLM captions")
        }
    }

    public func makeProgram(
        plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int
    ) throws -> ShardProgram {
        try makeProgram(
            plan: plan, batch: batch, guidanceScale: guidanceScale, guidanceChannels: guidanceChannels,
            refinerStep: "heun")
    }

    public func makeProgram(
        plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int,
        refinerStep: String
    ) throws -> ShardProgram {
        let p = try Plan.parse(plan)
        guard let step = RefinerStep(rawValue: refinerStep.isEmpty ? "heun" : refinerStep) else {
            throw FlowError("unknown refiner step \"\(refinerStep)\" (expected heun or euler)")
        }
        let guidance = Guidance(scale: guidanceScale, channels: guidanceChannels == 0 ? nil : guidanceChannels)
        let options = SamplerOptions(plan: p, guidance: guidance, refinerStep: step, batch: batch)
        return try Sampler.compile(
            options: options, predictor: predictor, refiner: refiner,
            maxCaptionLength: prompts?.length ?? 0)
    }

    public func captions(for prompts: [String]) throws -> ShardCaptions {
        guard let p = self.prompts else { throw FlowError("the model has no text conditioning") }
        return try p.captions(for: prompts)
    }
}
