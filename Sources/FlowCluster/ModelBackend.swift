import FlowModels
import FlowProto
import FlowSampler
import FlowTensor

/// The real worker backend: models loaded with `ModelLoader.load`, programs from `SamplingProgram`.
public final class ModelBackend: WorkerBackend {
    public let predictor: VelocityField
    public let refiner: VelocityField?
    public let models: [Flowturbo_V1_ModelDigest]
    public var hasTextConditioning: Bool { false }   // text models come later

    /// Loads the predictor (and optional refiner) from specs ("gmm:synthetic", a safetensors path).
    public init(model: String, refiner refinerSpec: String?) throws {
        predictor = try ModelLoader.load(model, refiner: false)
        refiner = try refinerSpec.map { try ModelLoader.load($0, refiner: true) }
        models = try ModelBackend.digests(model: model, refiner: refinerSpec)
    }

    /// Digest records of a predictor and optional refiner, as assignments and hellos carry them.
    public static func digests(model: String, refiner: String?) throws -> [Flowturbo_V1_ModelDigest] {
        var out: [Flowturbo_V1_ModelDigest] = []
        var p = Flowturbo_V1_ModelDigest(); p.spec = model; p.sha256 = try ModelLoader.digest(model); p.role = "predictor"
        out.append(p)
        if let r = refiner {
            var d = Flowturbo_V1_ModelDigest(); d.spec = r; d.sha256 = try ModelLoader.digest(r); d.role = "refiner"
            out.append(d)
        }
        return out
    }

    public func makeProgram(plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int) throws -> ShardProgram {
        try makeProgram(plan: plan, batch: batch, guidanceScale: guidanceScale, guidanceChannels: guidanceChannels,
                        refinerStep: "heun")
    }

    public func makeProgram(plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int,
                            refinerStep: String) throws -> ShardProgram {
        let p = try Plan.parse(plan)
        guard let step = RefinerStep(rawValue: refinerStep.isEmpty ? "heun" : refinerStep) else {
            throw FlowError("unknown refiner step \"\(refinerStep)\" (expected heun or euler)")
        }
        let options = SamplerOptions(plan: p, guidance: Guidance(scale: guidanceScale, channels: guidanceChannels == 0 ? nil : guidanceChannels),
                                     refinerStep: step, batch: batch)
        return try SamplingProgram(options: options, predictor: predictor, refiner: refiner)
    }
}
