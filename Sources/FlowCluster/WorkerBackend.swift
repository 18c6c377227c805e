import FlowProto
import FlowSampler
import FlowTensor

/// A compiled sampling program as the worker uses it (`SamplingProgram` conforms).
public protocol ShardProgram: AnyObject {
    /// Shape of one sample.
    var sampleShape: [Int] { get }
    /// Samples `count` ≤ batch global indices from `firstIndex`; writes count × sampleSize floats.
    func run(seed: UInt64, firstIndex: Int, count: Int, labels: UnsafePointer<Int32>, out: UnsafeMutablePointer<Float>) -> RunStats
    /// The same for a caption-conditioned program: row r is conditioned on caption r.
    func run(seed: UInt64, firstIndex: Int, count: Int, captions: CaptionInput,
             out: UnsafeMutablePointer<Float>) -> RunStats
    /// Function evaluations of row `row` in the last `run`.
    func nfe(ofRow row: Int) -> Int
}

extension ShardProgram {
    /// Programs without captions are never given prompt shards (the worker refuses those assignments first).
    public func run(seed: UInt64, firstIndex: Int, count: Int, captions: CaptionInput,
                    out: UnsafeMutablePointer<Float>) -> RunStats {
        preconditionFailure("this program takes no captions")
    }
}

extension SamplingProgram: ShardProgram {}

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
    func makeProgram(plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int,
                     refinerStep: String) throws -> ShardProgram
    /// Caption features of a shard's samples (one prompt per sample), for backends with text conditioning.
    func captions(for prompts: [String]) throws -> ShardCaptions
}

extension WorkerBackend {
    /// Backends without refiners run every plan the same way whatever the R-step shape.
    public func makeProgram(plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int,
                            refinerStep: String) throws -> ShardProgram {
        try makeProgram(plan: plan, batch: batch, guidanceScale: guidanceScale, guidanceChannels: guidanceChannels)
    }

    /// Backends without text conditioning.
    public func captions(for prompts: [String]) throws -> ShardCaptions {
        throw FlowError("the model has no text conditioning; prompt files need a text model")
    }
}
