import FlowProto
import FlowTensor
import Foundation
import CZeroMQ

/// The control plane: ROUTER socket, pull-based leases, heartbeats, re-queue, journal.
///
/// Workers (DEALER) send `WorkerHello`, then `WorkRequest` whenever idle; the coordinator answers
/// with a `ShardAssignment` (a lease) or parks them until a shard is re-queued. A worker silent for
/// `liveness × heartbeatInterval` is dead and its uncommitted shards go back to the front of the
/// queue. Results bypass this loop (workers push them to the `Aggregator`); a shard is done only
/// when the aggregator reports it durably written, and each commit is appended to the journal.
public final class Coordinator {
    enum ShardState { case pending, leased(worker: [UInt8], lease: UInt64, deadline: Date), done }
    struct WorkerInfo { var id: String; var lastSeen: Date; var idle: Bool }

    public let config: CoordinatorConfig
    let context: ZMQContext
    let router: ZMQSocket
    let commits: ZMQSocket
    let monitor: ZMQSocket
    let aggregator: Aggregator
    let journal: Journal
    let shards: [Range<Int>]
    /// Shards this coordinator computes: all, or those of its part (`RunPart`).
    let owned: [Bool]
    var state: [ShardState]
    var queue: [Int] = []          // pending shard ids, front first
    var workers: [[UInt8]: WorkerInfo] = [:]
    var accepted = 0, handshakes = 0   // rejected connections = accepted − handshakes
    /// Every lease issued (token, holder); the aggregator writes only results that answer one of them.
    let leases = LeaseBook()
    var policy: WorkerPolicy
    /// Since when no worker is left while some were banned (the no-progress rule).
    var stalledSince: Date?
    /// Audited shards (nil when auditing is off) and since when an audit conflict has had no one to decide it.
    let audit: AuditBook?
    var auditStuck: [Int: Date] = [:]
    /// Second leases of shards whose holder takes too long (shard → backup worker), and how long committed
    /// shards took from lease to commit.
    var backups: [Int: [UInt8]] = [:]
    var shardSeconds: [Double] = []
    var summary = CoordinatorSummary()
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
    var abortReason: String?
    var authenticator: CurveAuthenticator?
    /// CURVE public key of each peer (ZAP User-Id): a lease is bound to its holder's key.
    var keyOf: [[UInt8]: String] = [:]

    /// Stops the run from `onTick` with a fatal error (e.g. every local worker keeps crashing).
    public func abort(_ reason: String) { abortReason = reason }

    /// Workers banned so far (an embedding launcher with no workers left can stop at once).
    public var bannedWorkers: Int { policy.bannedRoutes.count }

    /// The error text when no worker is left to make progress.
    public var noProgressMessage: String {
        policy.noProgressMessage(pendingShards: owned.filter { $0 }.count - doneCount)
    }

    /// Binds both sockets, opens or resumes the journal. Throws a clear error for a journal whose
    /// configuration differs or an existing run without `resume`.
    public init(config: CoordinatorConfig, context: ZMQContext) throws {
        precondition(config.shardSize > 0 && config.shardSize % config.batch == 0)
        try Validate.seconds(config.leaseSeconds, "lease "
            + "seconds", 0.001...Bounds.maxSeconds)   // deadlines become Int64 ms
        self.config = config
        self.context = context
        try PrivateFiles.makeDirectory(config.outDir)
        policy = WorkerPolicy(models: config.models, maxNonFinite: config.maxNonFiniteResultsPerWorker,
                              maxMalformed: config.maxMalformedPerPeer)
        shards = config.evalSet.shards(shardSize: config.shardSize)
        state = Array(repeating: .pending, count: shards.count)
        let part = config.part
        let mine = shards.indices.map { part?.owns(shard: $0) ?? true }
        owned = mine
        let shardBytes = config.shardSize * config.sampleShape.reduce(1, *) * 4
        guard shardBytes <= config.maxShardBytes else {
            throw FlowError("shard size \(config.shardSize) makes \(shardBytes >> 20) MiB shards, over the \(config.maxShardBytes >> 20) MiB limit; lower --shard-size or raise --max-shard-mb")
        }
        let journalPath = config.outDir + "/journal.log"
        var committed = Set<Int>()
        if config.resume {
            let (j, recs) = try Journal.resume(journalPath, expected: config.header)
            journal = j
            for r in recs {
                guard r.shard >= 0, r.shard < shards.count, r.first == shards[r.shard].lowerBound, r.count == shards[r.shard].count else {
                    throw FlowError("\(journalPath): commit record for shard \(r.shard) (first \(r.first), count \(r.count)) does not match this run's shard layout; the journal was modified — start a new run in another --out")
                }
                guard mine[r.shard] else {
                    throw FlowError("\(journalPath): shard \(r.shard) is committed but not in part \(part!); the "
                        + "journal was modified — start this part again in another --out")
                }
                committed.insert(r.shard)
            }
        } else {
            journal = try Journal.create(journalPath, header: config.header)
        }
        // After the journal accepted this configuration: never overwrite another run's prompt index.
        if config.evalSet.isText { try PromptIndex.write(outDir: config.outDir, evalSet: config.evalSet) }
        for s in committed { state[s] = .done }
        queue = (0..<shards.count).filter { mine[$0] && !committed.contains($0) }
        summary.shards = mine.filter { $0 }.count
        summary.resumedShards = committed.count
        audit = config.auditFraction > 0 ? AuditBook(shards: queue, fraction: config.auditFraction) : nil
        summary.auditSelected = audit?.selected ?? 0
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
        try router.monitor(monitorEndpoint, events: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
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
        aggregator = try Aggregator(context: context, dataBind: config.dataBind, outDir: config.outDir,
                                    sampleShape: config.sampleShape, shards: shards, alreadyCommitted: committed,
                                    commitEndpoint: commitEndpoint, leases: leases, audit: audit,
                                    security: config.curve,
                                    maxMessageBytes: Int64(config.shardSize * sampleSize * 4 * 2 + (1 << 20)),
                                    expectedLabels: { evalSet.labels(first: $0.lowerBound, count: $0.count) })
    }

    /// Index ranges of the shards, in id order.
    public var shardRanges: [Range<Int>] { shards }

    var doneCount: Int { state.reduce(0) { if case .done = $1 { return $0 + 1 } else { return $0 } } }

    var samplesDone: Int {
        var n = 0
        for (i, s) in state.enumerated() { if case .done = s { n += shards[i].count } }
        return n
    }

    var allDone: Bool {
        zip(state, owned).allSatisfy { s, mine in
            if case .done = s { return true } else { return !mine }
        }
    }

    /// Samples this coordinator computes (the whole set, or its part's shards).
    var samplesOwned: Int { zip(shards, owned).reduce(0) { $0 + ($1.1 ? $1.0.count : 0) } }

    /// Runs until every shard is committed, a stop signal arrives, or a fatal worker error.
    public func run() throws -> CoordinatorSummary {
        let started = Date()
        aggregator.onStageLatency = observer.map { o in { o.stageLatency($0, seconds: $1, count: $2) } }
        try aggregator.start()
        defer { aggregator.stop(); journal.close(); authenticator?.stop() }
        let mode = config.progress ? ProgressBar.Mode.forStderr(interval: config.progressInterval) : .off
        let bar = ProgressBar(total: samplesOwned, baseline: samplesDone, mode: mode)
        var lastHeartbeat = Date.distantPast
        let hbInterval = Double(config.heartbeatIntervalMs) / 1000
        var fatal: String?
        while !allDone && fatal == nil {
            if StopSignals.requested { summary.interrupted = true; break }
            let ready = try ZMQPoll.readable([router, commits, monitor], timeoutMs: 100)
            if ready[1] { try drainCommits(bar: bar) }
            if ready[0] {
                while let (frames, userID) = try router.receiveWithUserID(dontWait: true) {
                    if let key = userID, let id = frames.first, keyOf[id] == nil { keyOf[id] = key }
                    if let f = try handleControl(frames) { fatal = f; break }
                }
            }
            if ready[2] { drainMonitor() }
            let now = Date()
            if now.timeIntervalSince(lastHeartbeat) >= hbInterval {
                lastHeartbeat = now
                var hb = Flowturbo_V1_Envelope(); hb.heartbeat = Flowturbo_V1_Heartbeat()
                for id in workers.keys { send(hb, to: id) }
                expire(now: now, deadAfter: hbInterval * Double(config.liveness))
                for (id, w) in workers where w.idle { assign(to: id, now: now) }   // backups for stuck leases
            }
            bar.update(done: samplesDone, workers: workers.count, requeues: summary.requeues)
            observer?.observe(snapshot)
            onTick?()
            if let r = abortReason { fatal = r }
            if fatal == nil { fatal = checkProgress(now: now) }
            if fatal == nil { fatal = handleAudits(now: now) }
        }
        try drainCommits(bar: bar)
        bar.update(done: samplesDone, workers: workers.count, requeues: summary.requeues, force: true)
        bar.finish()
        observer?.observe(snapshot)
        var bye = Flowturbo_V1_Envelope()
        bye.shutdown.reason = fatal ?? (summary.interrupted ? "interrupted" : "run complete")
        for id in workers.keys { send(bye, to: id) }
        summary.completed = allDone
        summary.elapsedSeconds = Date().timeIntervalSince(started)
        aggregator.stop()
        summary.aggregator = aggregator.stats
        summary.authRejected = authenticator?.stats.rejected ?? 0
        if let counts = audit?.counts { (summary.auditConfirmed, summary.auditConflicts) = counts }
        if let f = fatal { throw FlowError(f) }
        return summary
    }

    func send(_ env: Flowturbo_V1_Envelope, to id: [UInt8]) {
        guard let bytes = try? env.serializedBytes() as [UInt8] else { return }
        do { try router.send([id, bytes], dontWait: true) } catch {
            // EHOSTUNREACH: the peer disconnected; liveness will reap it.
        }
    }

    /// Journals every commit waiting on the inproc socket with one fsync (group commit).
    func drainCommits(bar: ProgressBar) throws {
        var fresh: [ShardCommit] = []
        var seen = Set<Int>()
        while let frames = try commits.receive(dontWait: true) {
            guard frames.count == 1, let env = try? Flowturbo_V1_Envelope(serializedBytes: frames[0]) else { continue }
            if case .error(let e)? = env.body { aggregatorError(e); continue }
            guard case .committed(let c)? = env.body else { continue }
            guard let s = Int(exactly: c.shardID), s < shards.count else { continue }
            if case .done = state[s] { summary.duplicateCommits += 1; continue }
            if !seen.insert(s).inserted { summary.duplicateCommits += 1; continue }
            fresh.append(ShardCommit(shard: s, first: shards[s].lowerBound, count: shards[s].count,
                                     file: c.file, checksum: c.checksum, worker: c.workerID))
        }
        guard !fresh.isEmpty else { return }
        try journal.append(contentsOf: fresh)
        for c in fresh {
            if case .leased(_, _, let deadline) = state[c.shard] {
                shardSeconds.append(Date().timeIntervalSince(deadline) + config.leaseSeconds)
            }
            backups[c.shard] = nil
            state[c.shard] = .done
            policy.auditDone(shard: c.shard)
            auditStuck[c.shard] = nil
            queue.removeAll { $0 == c.shard }
            summary.committedThisSession += 1
        }
        onCommit?(samplesDone, samplesOwned)
        // Workers parked at their in-flight limit can take more now.
        for (id, w) in workers where w.idle && !queue.isEmpty { assign(to: id, now: Date()) }
    }

    func drainMonitor() {
        while let frames = try? monitor.receive(dontWait: true), frames.count >= 1, frames[0].count >= 6 {
            // Frame 1 of a monitor event: event id (16 bits) then its value (32 bits, unused here).
            let event = Int32(frames[0][0]) | Int32(frames[0][1]) << 8
            switch event {
            case ZMQ_EVENT_ACCEPTED: accepted += 1
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: handshakes += 1
            case ZMQ_EVENT_DISCONNECTED: summary.disconnects += 1
            default: break
            }
            // libzmq reports no fd with HANDSHAKE_SUCCEEDED, and non-ZMTP bytes often take the ZMTP/1.0
            // path without a failure event, so count connections that never completed a handshake.
            summary.rejectedConnections = max(0, accepted - handshakes)
        }
    }

}
