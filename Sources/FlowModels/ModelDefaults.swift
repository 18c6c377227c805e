import FlowTensor
import Foundation

/// How a predictor file says it should be sampled: stored as JSON under the safetensors `__metadata__` key
/// `flowturbo.recommended`, e.g. `{"plan":"H2P4R2","refiner_step":"euler","guidance":1.5,
/// "refiner":"refiner-mnist.safetensors","plan_without_refiner":"H8"}`. `refiner` is a file name next to the predictor.
public struct Recommendation: Codable, Equatable {
    public var plan: String
    public var refinerStep: String
    public var guidance: Float
    public var refiner: String?
    public var planWithoutRefiner: String?

    public init(plan: String, refinerStep: String, guidance: Float, refiner: String?, planWithoutRefiner: String? = nil)
    {
        self.plan = plan
        self.refinerStep = refinerStep
        self.guidance = guidance
        self.refiner = refiner
        self.planWithoutRefiner = planWithoutRefiner
    }

    enum CodingKeys: String, CodingKey {
        case plan
        case refinerStep = "refiner_step"
        case guidance
        case refiner
        case planWithoutRefiner = "plan_without_refiner"
    }

    /// The metadata key of the JSON.
    public static let metadataKey = "flowturbo.recommended"

    /// The recommendation in a safetensors file's metadata, nil when absent. Malformed JSON is an error naming the file.
    public static func read(_ path: String) throws -> Recommendation? {
        guard let text = try SafeTensors.load(path).metadata[metadataKey] else { return nil }
        do {
            return try JSONDecoder().decode(Recommendation.self, from: Data(text.utf8))
        } catch {
            throw FlowError(
                "\(path): metadata \(metadataKey) is not valid JSON with plan, refiner_step, guidance: \(error)")
        }
    }
}

/// What a sampling command runs once every default is filled in.
public struct ResolvedSampling: Equatable {
    public var model: String
    public var refiner: String?
    public var plan: String
    public var refinerStep: String
    public var guidance: Float
    /// Where the plan, refiner step and guidance came from ("metadata of FILE", "built-in", "command line").
    public var source: String

    public init(model: String, refiner: String?, plan: String, refinerStep: String, guidance: Float, source: String) {
        self.model = model
        self.refiner = refiner
        self.plan = plan
        self.refinerStep = refinerStep
        self.guidance = guidance
        self.source = source
    }
}

/// One rule for defaults in every command (`run`, `coordinator`, `sample`, `worker`, `train-refiner`, `classify`):
///
/// - model: the given spec, else the shipped predictor (`Models/sit-mnist.safetensors`, else `gmm:mnist`; for
///   prompt runs the shipped text-to-image model `Models/pixart-quad.safetensors`);
/// - refiner: the given file (`none` = no refiner), else the refiner the model's metadata recommends (a file next to
///   the model) when it exists, else none;
/// - plan, R-step shape, guidance: the given values, else the model's recommendation (the plan for a model without
///   a refiner is `plan_without_refiner`; with a refiner, a recommended plan without R steps is not used), else
///   H8 / heun / 1 (H2P4R2 when a refiner was given).
public enum ModelDefaults {
    /// The value of a refiner option that disables the recommended refiner.
    public static let noRefiner = "none"

    public static func resolve(
        model: String?, refiner: String?, plan: String?, refinerStep: String?,
        guidance: Float?, text: Bool = false
    ) throws -> ResolvedSampling {
        let spec = model ?? (text ? defaultTextPredictorSpec : ModelLoader.defaultPredictorSpec)
        let rec = spec.hasPrefix("gmm:") ? nil : try FileIO.exists(spec) ? Recommendation.read(spec) : nil
        var ref: String?
        if let r = refiner {
            ref = r == noRefiner ? nil : r
        } else if let name = rec?.refiner {
            let path = directory(of: spec) + "/" + name
            ref = FileIO.exists(path) ? path : nil
        }
        let fromRec = rec != nil && (plan == nil || refinerStep == nil || guidance == nil)
        // With a refiner, the recommended plan only when it has R steps: a plan recommended for a model without a
        // refiner (e.g. the text model's provisional H8) would leave an explicit --refiner unused.
        let recPlan =
            ref != nil
            ? rec.flatMap { $0.plan.contains("R") ? $0.plan : nil }
            : (rec?.planWithoutRefiner ?? rec.map { _ in "H8" })
        let chosenPlan = plan ?? recPlan ?? (ref != nil ? "H2P4R2" : "H8")
        return ResolvedSampling(
            model: spec, refiner: ref, plan: chosenPlan, refinerStep: refinerStep ?? rec?.refinerStep ?? "heun",
            guidance: guidance ?? rec?.guidance ?? 1,
            source: fromRec
                ? "metadata of \(spec)" : (rec == nil && (plan == nil || guidance == nil) ? "built-in" : "command line")
        )
    }

    /// Default predictor of prompt runs: the shipped text-to-image model (`Models/pixart-quad.safetensors`, the
    /// quad-canvas task), or a one-line error when it is missing.
    public static var defaultTextPredictorSpec: String {
        shipped("pixart-quad.safetensors")
    }

    /// A shipped file by name: `<modelsDirectory>/NAME` (the same directory every command searches).
    public static func shipped(_ name: String) -> String { ModelLoader.modelsDirectory + "/" + name }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
