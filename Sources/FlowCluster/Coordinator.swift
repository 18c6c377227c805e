import CZeroMQ
import FlowProto
import FlowTensor
import Foundation

/// The control plane: ROUTER socket, pull-based leases, heartbeats, re-queue, journal.
///
/// Workers (DEALER) send `WorkerHello`, then `WorkRequest` whenever idle; the coordinator answers
/// with a `ShardAssignment` (a lease) or parks them until a shard is re-queued. A worker silent for
/// `liveness × heartbeatInterval` is dead and its uncommitted shards go back to the front of the
/// queue. Results bypass this loop (workers push them to the `Aggregator`); a shard is done only
/// when the aggregator reports it durably written, and each commit is appended to the journal.
public final class Coordinator {
    public let config: CoordinatorConfig
    let context: ZMQContext
    let router: ZMQSocket
    let commits: ZMQSocket
    let monitor: ZMQSocket
    let aggregator: Aggregator
    let journal: Journal
    /// The policy: shard states, queue, peers, leases, bans, audits (`Scheduler`); this class only does I/O.
    var scheduler: Scheduler
    var accepted = 0, handshakes = 0  // rejected connections = accepted − handshakes
    /// Every lease issued (token, holder); the aggregator writes only results that answer one of them.
    let leases = LeaseBook()
    /// Audited shards (nil when auditing is off), shared with the aggregator.
    let audit: AuditBook?
    let runID: String
    /// Bound control port.
    public private(set) var controlPort = 0
    /// Bound data (aggregator) port.
    public var dataPort: Int { aggregator.port }
    /// Called on each commit (samples done, total) — for tests and embedding.
    public var onCommit: ((Int, Int) -> Void)?
    /// Called every control-loop iteration (~10 Hz), e.g. to respawn crashed local workers.
    public var onTick: (() -> Void)?
    /// Live figures and stage latencies for an exporter (Prometheus `/metrics`); set before `run()`.
    public var observer: RunObserver?
    /// What the log has reported (see `logTransitions`).
    var logState = CoordinatorLogState()
    var abortReason: String?
    var authenticator: CurveAuthenticator?
    /// Stops this coordinator's run (from any thread; SIGINT/SIGTERM stop it too): the journal stays consistent and
    /// workers are told to shut down.
    public let stopToken = StopToken()

    /// Stops the run from `onTick` with a fatal error (e.g. every local worker keeps crashing).
    public func abort(_ reason: String) { abortReason = reason }

    /// Workers banned so far (an embedding launcher with no workers left can stop at once).
    public var bannedWorkers: Int { scheduler.bannedCount }

    /// The error text when no worker is left to make progress.
    public var noProgressMessage: String { scheduler.noProgressMessage }

    /// Binds both sockets, opens or resumes the journal. Throws a clear error for a journal whose
    /// configuration differs or an existing run without `resume`.
    public init(config: CoordinatorConfig, context: ZMQContext) throws {
        precondition(config.shardSize > 0 && config.shardSize % config.batch == 0)
        try Validate.seconds(
            config.leaseSeconds,
            "lease "
                + "seconds", 0.001...Bounds.maxSeconds)  // deadlines become Int64 ms
        self.config = config
        self.context = context
        try PrivateFiles.makeDirectory(config.outDir)
        let shards = config.evalSet.shards(shardSize: config.shardSize)
        let part = config.part
        let mine = shards.indices.map { part?.owns(shard: $0) ?? true }
        let shardBytes = config.shardSize * config.sampleShape.reduce(1, *) * 4
        guard shardBytes <= config.maxShardBytes else {
            throw FlowError(
                "shard size \(config.shardSize) makes \(shardBytes >> 20) MiB shards, over the \(config.maxShardBytes >> 20) MiB limit; lower \(.shardSize) or raise \(.maxShardMB)"
            )
        }
        let journalPath = config.outDir + "/journal.log"
        var committed = Set<Int>()
        if config.resume {
            let (j, recs) = try Journal.resume(journalPath, expected: config.header)
            journal = j
            for r in recs {
                guard r.shard >= 0, r.shard < shards.count, r.first == shards[r.shard].lowerBound,
                    r.count == shards[r.shard].count
                else {
                    throw FlowError(
                        "\(journalPath): commit record for shard \(r.shard) (first \(r.first), count \(r.count)) does not match this run's shard layout; the journal was modified — start a new run in another \(.out)"
                    )
                }
                guard mine[r.shard] else {
                    throw FlowError(
                        "\(journalPath): shard \(r.shard) is committed but not in part \(part!); the "
                            + "journal was modified — start this part again in another \(.out)")
                }
                committed.insert(r.shard)
            }
        } else {
            journal = try Journal.create(journalPath, header: config.header)
        }
        // After the journal accepted this configuration: never overwrite another run's prompt index.
        if config.evalSet.isText { try PromptIndex.write(outDir: config.outDir, evalSet: config.evalSet) }
        scheduler = Scheduler(shards: shards, owned: mine, committed: committed, limits: SchedulerLimits(config))
        audit =
            config.auditFraction > 0 ? AuditBook(shards: Array(scheduler.queue), fraction: config.auditFraction) : nil
        scheduler.summary.auditSelected = audit?.selected ?? 0
        runID = String(UInt64.random(in: 0...UInt64.max), radix: 16)

        commits = try context.socket(.pull)
        try commits.setLinger(0)
        let commitEndpoint = "inproc://commits-\(runID)"
        try commits.bind(commitEndpoint)
        router = try context.socket(.router)
        try router.setLinger(0)
        try router.setMaxMessageSize(config.maxControlMessageBytes)
        try router.setRouterMandatory(true)
        let monitorEndpoint = "inproc://monitor-\(runID)"
        try router.monitor(
            monitorEndpoint,
            events: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_ACCEPTED)
        monitor = try context.socket(.pair)
        try monitor.setLinger(0)
        try monitor.connect(monitorEndpoint)
        if let curve = config.curve {
            // The ZAP handler must be bound before any CURVE server socket sees a connection.
            authenticator = try CurveAuthenticator(context: context, allowed: curve.allowed)
            try curve.apply(to: router)
        }
        try router.bind(config.controlBind)
        controlPort = Int(try router.lastEndpoint().split(separator: ":").last ?? "0") ?? 0
        let sampleSize = config.sampleShape.reduce(1, *)
        let evalSet = config.evalSet
        aggregator = try Aggregator(
            context: context, dataBind: config.dataBind, outDir: config.outDir,
            sampleShape: config.sampleShape, shards: shards, alreadyCommitted: committed,
            commitEndpoint: commitEndpoint, leases: leases, audit: audit,
            security: config.curve,
            maxMessageBytes: Int64(config.shardSize * sampleSize * 4 * 2 + (1 << 20)),
            expectedLabels: { evalSet.labels(first: $0.lowerBound, count: $0.count) })
    }

    /// Index ranges of the shards, in id order.
    public var shardRanges: [Range<Int>] { scheduler.shards }
}
