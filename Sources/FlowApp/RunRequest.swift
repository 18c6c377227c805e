import FlowCluster
import FlowSampler

/// What a run's report measures quality against: a reference statistics file (`none` = no quality figures, nil = the
/// shipped defaults where they apply) and the feature space both sets are mapped into.
public struct ReportRequest {
    /// The reference value that turns quality figures off.
    public static let none = "none"
    public var reference: String?
    /// raw, random-projection or classifier[:PATH].
    public var features = "raw"
    public var projectionDimension = 64
    public var featureSeed: UInt64 = 0

    public init(reference: String? = nil, features: String = "raw") {
        self.reference = reference
        self.features = features
    }
}

/// Everything a run (local or coordinated) is asked for, before defaults are resolved: the typed form of the
/// run flags, independent of any command line.
public struct RunRequest {
    public var samples = 1000
    public var plan: String?
    public var model: String?
    public var refiner: String?
    public var refinerStep: RefinerStep?
    public var guidance: Float?
    public var guidanceChannels = 0
    public var batch = 16
    public var seed: UInt64 = 0
    public var labels: EvalSet.LabelMode = .balanced
    public var prompts: String?
    public var imagesPerPrompt = 1
    public var textEncoder: String?
    public var shardSize = 0
    public var out = "runs/latest"
    public var resume = false
    public var overwrite = false
    public var exportNPZ = false
    public var leaseSeconds: Double = 600
    public var report = ReportRequest()
    public var quiet = false
    public var progressInterval: Double = 5
    /// `I/N`: compute only part I of N of the shards.
    public var part: String?
    public var maxMessageMB = 16
    public var maxShardMB = 256
    public var maxInFlight = 2
    public var audit: Double = 0

    public init() {}
}
