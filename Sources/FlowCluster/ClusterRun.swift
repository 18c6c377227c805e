import FlowModels
import FlowProto
import FlowSampler
import FlowTensor
import Foundation

/// Everything that defines a distributed sampling run (shared by `coordinator` and `run`).
public struct RunSpec {
    public var model: String
    public var refiner: String?
    public var plan: String
    public var guidanceScale: Float = 1
    public var guidanceChannels = 0
    /// Shape of R steps: "heun" or "euler".
    public var refinerStep = "heun"
    public var batch = 16
    public var seed: UInt64 = 0
    public var samples = 1000
    public var labelMode: EvalSet.LabelMode = .balanced
    public var promptFile: String?
    /// Images per prompt K of a prompt run (sample i = p·K + k).
    public var imagesPerPrompt = 1
    /// MiniLM folder of a prompt run (nil = `Models/minilm`).
    public var textEncoder: String?
    /// Samples per shard; 0 = 4 batches.
    public var shardSize = 0
    public var outDir: String
    public var resume = false
    /// Coordinator-free part of the run (nil = every shard).
    public var part: RunPart?

    /// Creates a spec with the defaults above.
    public init(model: String, refiner: String?, plan: String, outDir: String) {
        self.model = model
        self.refiner = refiner
        self.plan = plan
        self.outDir = outDir
    }

    /// Shard size actually used (a multiple of the batch).
    public var effectiveShardSize: Int {
        let s = shardSize > 0 ? shardSize : 4 * batch
        return max(batch, (s + batch - 1) / batch * batch)
    }

    /// Builds the coordinator configuration: loads the model for its shape, classes and digest,
    /// builds the eval set, and fails early (clear errors) for prompt files on class models,
    /// bad batch sizes or plans that cannot compile here.
    public func coordinatorConfig(controlBind: String, dataBind: String) throws -> CoordinatorConfig {
        guard batch > 0 else { throw FlowError("\(.batch) must be ≥ 1 (got \(batch))") }
        let parsed = try Plan.parse(plan)
        if parsed.needsRefiner && refiner == nil {
            throw FlowError(
                "plan \(plan) has R steps but no \(.refiner) was given; pass \(.refiner) FILE or use a plan without R (e.g. H8)"
            )
        }
        let predictor = try ModelLoader.load(model, refiner: false)
        var models = try ModelBackend.digests(model: model, refiner: refiner)
        let evalSet: EvalSet
        if let pf = promptFile {
            evalSet = try EvalSet(promptFile: pf, imagesPerPrompt: imagesPerPrompt, seed: seed)
            guard let field = predictor as? CaptionConditionedField else {
                try evalSet.check(modelHasText: false, modelSpec: model)
                throw FlowError("\(model) has no text conditioning")
            }
            try ModelBackend.checkCaptionChannels(field, model: model)
            models.append(try ModelBackend.textEncoderDigest(textEncoder))
        } else {
            guard imagesPerPrompt == 1 else {
                throw FlowError(
                    "images per prompt (\(imagesPerPrompt)) applies to prompt files; give a prompt file "
                        + "or drop it")
            }
            evalSet = try EvalSet(samples: samples, classes: predictor.numClasses, labelMode: labelMode, seed: seed)
        }
        // The report reads every latent back into memory once the run is complete.
        try Validate.fitsInMemory(
            [evalSet.samples, predictor.sampleSize], bytesPerElement: 4,
            "\(evalSet.samples) samples of \(model)")
        var c = CoordinatorConfig(
            controlBind: controlBind, dataBind: dataBind, outDir: outDir, evalSet: evalSet, plan: plan,
            batch: batch, shardSize: effectiveShardSize, models: models, sampleShape: predictor.sampleShape)
        c.guidanceScale = guidanceScale
        c.guidanceChannels = guidanceChannels
        guard RefinerStep(rawValue: refinerStep) != nil else {
            throw FlowError("refiner step \"\(refinerStep)\" is not heun or euler")
        }
        c.refinerStep = refinerStep
        c.resume = resume
        c.part = part
        if resume {
            // Verify what the journal says is committed before anything else runs; damaged or missing shards
            // are forgotten and computed again instead of being found only when the report reads them.
            for d in try RunIntegrity.repair(outDir: outDir, expected: c.header) {
                let line = "resume: shard \(d.shard) (\(d.file)): \(d.reason); computing it again\n"
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
        return c
    }

    /// Default data endpoint for a control endpoint: port + 1 when the port is fixed, else a free port.
    public static func dataBind(for controlBind: String) -> String {
        guard let colon = controlBind.lastIndex(of: ":"),
            let port = Int(controlBind[controlBind.index(after: colon)...]), port > 0
        else {
            return controlBind.hasPrefix("tcp://")
                ? String(controlBind[..<(controlBind.lastIndex(of: ":") ?? controlBind.endIndex)]) + ":0"
                : "tcp://127.0.0.1:0"
        }
        return String(controlBind[..<colon]) + ":\(port + 1)"
    }
}
