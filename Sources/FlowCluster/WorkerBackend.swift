import FlowProto
import FlowSampler
import FlowTensor

/// A compiled sampling program as the worker uses it: FlowSampler's `SamplingProgram` (the fixed-step and adaptive
/// engines conform, and so do test doubles).
public typealias ShardProgram = SamplingProgram

/// What a worker can run: the models it holds and a program factory.
///
/// The worker caches one program per (plan, batch, guidance) and reuses it for every shard.
public protocol WorkerBackend: AnyObject {
    /// Models held, with digests (sent in the hello, checked against each assignment).
    var models: [Flowturbo_V1_ModelDigest] { get }
    /// True if the predictor takes text prompts.
    var hasTextConditioning: Bool { get }
    /// Compiles a program; throws `FlowError` for an unknown plan or models that do not fit.
    func makeProgram(plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int) throws -> ShardProgram
    /// Compiles a program with R steps of the given shape ("heun" or "euler").
    func makeProgram(
        plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int,
        refinerStep: String
    ) throws -> ShardProgram
    /// Caption features of a shard's samples (one prompt per sample), for backends with text conditioning.
    func captions(for prompts: [String]) throws -> ShardCaptions
}

extension WorkerBackend {
    /// Backends without refiners run every plan the same way whatever the R-step shape.
    public func makeProgram(
        plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int,
        refinerStep: String
    ) throws -> ShardProgram {
        try makeProgram(plan: plan, batch: batch, guidanceScale: guidanceScale, guidanceChannels: guidanceChannels)
    }

    /// Backends without text conditioning.
    public func captions(for prompts: [String]) throws -> ShardCaptions {
        throw FlowError("the model has no text conditioning; prompt files need a text model")
    }
}
