import FlowProto
import Foundation

/// Run parameters of a coordinator (everything a worker needs travels in its assignments).
public struct CoordinatorConfig {
    /// Control endpoint (ROUTER), e.g. `tcp://*:5555`; port 0 picks a free one.
    public var controlBind: String
    /// Data endpoint (aggregator PULL); workers reach it on the control host at the Welcome's port.
    public var dataBind: String
    public var outDir: String
    public var evalSet: EvalSet
    public var plan: String
    public var guidanceScale: Float = 1
    /// 0 = all channels.
    public var guidanceChannels: Int = 0
    /// Shape of R steps ("heun" or "euler"), sent in every assignment and kept in the journal header.
    public var refinerStep = "heun"
    public var batch: Int
    /// Samples per shard (a multiple of `batch`).
    public var shardSize: Int
    /// Models every worker must hold (spec, digest, role).
    public var models: [Flowturbo_V1_ModelDigest]
    public var sampleShape: [Int]
    public var heartbeatIntervalMs = 1000
    public var liveness = 3
    /// A lease not committed within this time is re-queued even if its worker still heartbeats.
    public var leaseSeconds = 600.0
    public var resume = false
    public var progress = true
    /// Seconds between progress lines when stderr is not a terminal (a terminal gets a redrawn bar).
    public var progressInterval = 5.0
    /// Coordinator-free part: only the shards of this part are computed (nil = every shard).
    public var part: RunPart?
    /// Hard bound on a control message (ZMQ_MAXMSGSIZE): libzmq drops the connection of a peer
    /// sending more, before buffering it.
    public var maxControlMessageBytes: Int64 = 16 << 20
    /// Application bound: control frames larger than this are dropped and counted as oversized.
    public var maxControlFrameBytes = 1 << 20
    /// CurveZMQ (encryption + allow-listed worker keys) on the control and data sockets; nil = plaintext.
    public var curve: CurveServerSecurity?
    /// Most shards leased to one worker at once (one computing + one whose result is in flight).
    public var maxInFlightPerWorker = 2
    /// Largest shard (bytes of float32 latents); a bigger shard size is refused before the run starts.
    public var maxShardBytes = 256 << 20
    /// A worker whose results hold NaN/Inf this many times is told to shut down and ignored.
    public var maxNonFiniteResultsPerWorker = 3
    /// A peer sending this many undecodable or oversized control messages is told to shut down and ignored.
    public var maxMalformedPerPeer = 16
    /// When every worker that joined was banned or retired and none is left, the run ends with an error
    /// after this many seconds (time for another worker to join). The shards stay pending in the journal.
    public var noProgressSeconds = 15.0
    /// Fraction of shards computed by two different workers and compared byte for byte before they are
    /// written (0 = off); a worker whose latents lose the comparison is banned (`AuditBook`).
    public var auditFraction = 0.0
    /// A worker with nothing to do gets a second lease of a shard leased longer than this and 4× the median
    /// shard time to another worker; the first result wins (bit-reproducible), so a stuck or hostile lease
    /// holder cannot hold up the run until `leaseSeconds`.
    public var backupAfterSeconds = 30.0

    /// Creates a config; see the properties for defaults.
    public init(
        controlBind: String, dataBind: String, outDir: String, evalSet: EvalSet, plan: String, batch: Int,
        shardSize: Int, models: [Flowturbo_V1_ModelDigest], sampleShape: [Int]
    ) {
        self.controlBind = controlBind
        self.dataBind = dataBind
        self.outDir = outDir
        self.evalSet = evalSet
        self.plan = plan
        self.batch = batch
        self.shardSize = shardSize
        self.models = models
        self.sampleShape = sampleShape
    }

    /// The journal header for this configuration.
    public var header: RunHeader {
        RunHeader(
            evalSetId: evalSet.id, samples: evalSet.samples, classes: evalSet.classes,
            labelMode: evalSet.labelMode.rawValue,
            seed: evalSet.seed, plan: plan, guidanceScale: guidanceScale, guidanceChannels: guidanceChannels,
            batch: batch, shardSize: shardSize, models: models.map { "\($0.role)=\($0.spec)@\($0.sha256)" },
            refinerStep: refinerStep == "heun" ? nil : refinerStep,
            imagesPerPrompt: evalSet.isText && evalSet.imagesPerPrompt != 1 ? evalSet.imagesPerPrompt : nil,
            part: part?.description)
    }

    /// The assignment (a lease) of shard `s` covering `r`.
    func assignment(
        shard s: Int, range r: Range<Int>, lease: LeaseBook.Lease,
        now: Date
    ) -> Flowturbo_V1_ShardAssignment {
        var a = Flowturbo_V1_ShardAssignment()
        a.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
        a.shardID = UInt64(s)
        a.evalSet.evalSetID = evalSet.id
        a.evalSet.samples = UInt64(evalSet.samples)
        a.evalSet.classes = UInt32(evalSet.classes)
        a.evalSet.labelMode = evalSet.labelMode.rawValue
        if evalSet.isText { a.evalSet.prompts = evalSet.samplePrompts(first: r.lowerBound, count: r.count) }
        a.firstIndex = UInt64(r.lowerBound)
        a.count = UInt64(r.count)
        a.plan = plan
        a.guidanceScale = guidanceScale
        a.guidanceChannels = UInt32(guidanceChannels)
        a.refinerStep = refinerStep
        a.batch = UInt32(batch)
        a.seed = evalSet.seed
        a.models = models
        a.leaseDeadlineUnixMs = Int64(now.addingTimeInterval(leaseSeconds).timeIntervalSince1970 * 1000)
        a.leaseID = lease.id
        a.leaseToken = Data(lease.token)
        a.labels = evalSet.labels(first: r.lowerBound, count: r.count)  // prompt sets: the prompt index
        return a
    }
}

/// What happened during a coordinator session.
public struct CoordinatorSummary {
    public var completed = false
    public var interrupted = false
    public var shards = 0
    /// Shards found committed in the journal at start (not recomputed).
    public var resumedShards = 0
    public var committedThisSession = 0
    public var assignments = 0
    public var requeues = 0
    public var duplicateCommits = 0
    /// Undecodable or malformed control frames.
    public var droppedFrames = 0
    /// Control frames over `maxControlFrameBytes` (dropped).
    public var oversizedFrames = 0
    /// Connections that never completed the ZMTP handshake (garbage bytes on the port).
    public var rejectedConnections = 0
    /// All peer disconnects seen (includes libzmq dropping peers over ZMQ_MAXMSGSIZE and normal exits).
    public var disconnects = 0
    public var workersSeen = 0
    public var workerErrors: [String] = []
    /// CURVE handshakes refused by the ZAP handler (unknown worker keys).
    public var authRejected = 0
    /// Results with NaN/Inf latents: the shard was re-run on another worker (ids in `nonFiniteShardIDs`).
    public var nonFiniteShards = 0
    public var nonFiniteShardIDs: [Int] = []
    /// Workers told to shut down and ignored (e.g. repeated NaN/Inf results, or a fatal error about their lease).
    public var bannedWorkers = 0
    /// Workers refused at hello (protocol version, model digests different from the run's, banned id).
    public var refusedWorkers = 0
    /// Error messages about a shard the sender does not hold (ignored: they neither re-queue nor stop anything).
    public var ignoredErrors = 0
    /// Audits: shards drawn, confirmed by two workers, and conflicts (different latents for one shard).
    public var auditSelected = 0, auditConfirmed = 0, auditConflicts = 0
    /// Second leases given to idle workers for shards whose holder took too long.
    public var backupLeases = 0
    public var elapsedSeconds = 0.0
    public var aggregator = Aggregator.Stats()
}
