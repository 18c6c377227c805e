import FlowProto
import FlowTensor
import Foundation
import CZeroMQ

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

    /// Creates a config; see the properties for defaults.
    public init(controlBind: String, dataBind: String, outDir: String, evalSet: EvalSet, plan: String, batch: Int,
                shardSize: Int, models: [Flowturbo_V1_ModelDigest], sampleShape: [Int]) {
        self.controlBind = controlBind; self.dataBind = dataBind; self.outDir = outDir; self.evalSet = evalSet
        self.plan = plan; self.batch = batch; self.shardSize = shardSize; self.models = models; self.sampleShape = sampleShape
    }

    /// The journal header for this configuration.
    public var header: RunHeader {
        RunHeader(evalSetId: evalSet.id, samples: evalSet.samples, classes: evalSet.classes, labelMode: evalSet.labelMode.rawValue,
                  seed: evalSet.seed, plan: plan, guidanceScale: guidanceScale, guidanceChannels: guidanceChannels,
                  batch: batch, shardSize: shardSize, models: models.map { "\($0.role)=\($0.spec)@\($0.sha256)" },
                  refinerStep: refinerStep == "heun" ? nil : refinerStep)
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
    /// Workers told to shut down and ignored (e.g. repeated NaN/Inf results).
    public var bannedWorkers = 0
    public var elapsedSeconds = 0.0
    public var aggregator = Aggregator.Stats()
}

/// The control plane: ROUTER socket, pull-based leases, heartbeats, re-queue, journal.
///
/// Workers (DEALER) send `WorkerHello`, then `WorkRequest` whenever idle; the coordinator answers
/// with a `ShardAssignment` (a lease) or parks them until a shard is re-queued. A worker silent for
/// `liveness × heartbeatInterval` is dead and its uncommitted shards go back to the front of the
/// queue. Results bypass this loop (workers push them to the `Aggregator`); a shard is done only
/// when the aggregator reports it durably written, and each commit is appended to the journal.
public final class Coordinator {
    private enum ShardState { case pending, leased(worker: [UInt8], lease: UInt64, deadline: Date), done }
    private struct WorkerInfo { var id: String; var lastSeen: Date; var idle: Bool }

    public let config: CoordinatorConfig
    private let context: ZMQContext
    private let router: ZMQSocket
    private let commits: ZMQSocket
    private let monitor: ZMQSocket
    private let aggregator: Aggregator
    private let journal: Journal
    private let shards: [Range<Int>]
    private var state: [ShardState]
    private var queue: [Int] = []          // pending shard ids, front first
    private var workers: [[UInt8]: WorkerInfo] = [:]
    private var accepted = 0, handshakes = 0   // rejected connections = accepted − handshakes
    private var nextLease: UInt64 = 1
    private var summary = CoordinatorSummary()
    private let runID: String
    /// Bound control port.
    public private(set) var controlPort = 0
    /// Bound data (aggregator) port.
    public var dataPort: Int { aggregator.port }
    /// Called on each commit (samples done, total) — for tests and embedding.
    public var onCommit: ((Int, Int) -> Void)?
    /// Called every control-loop iteration (~10 Hz), e.g. to respawn crashed local workers.
    public var onTick: (() -> Void)?
    private var abortReason: String?
    private var authenticator: CurveAuthenticator?
    /// Workers that returned NaN/Inf for a shard (it goes to someone else if possible).
    private var excluded: [Int: Set<[UInt8]>] = [:]
    private var nonFiniteByWorker: [[UInt8]: Int] = [:]
    private var banned = Set<[UInt8]>()
    private var malformedByPeer: [[UInt8]: Int] = [:]
    /// CURVE public key of each peer (ZAP User-Id), to revoke a banned worker's key.
    private var keyOf: [[UInt8]: String] = [:]

    /// Stops the run from `onTick` with a fatal error (e.g. every local worker keeps crashing).
    public func abort(_ reason: String) { abortReason = reason }

    /// Binds both sockets, opens or resumes the journal. Throws a clear error for a journal whose
    /// configuration differs or an existing run without `resume`.
    public init(config: CoordinatorConfig, context: ZMQContext) throws {
        precondition(config.shardSize > 0 && config.shardSize % config.batch == 0)
        self.config = config
        self.context = context
        try FileIO.makeDirectories(config.outDir)
        shards = config.evalSet.shards(shardSize: config.shardSize)
        state = Array(repeating: .pending, count: shards.count)
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
                committed.insert(r.shard)
            }
        } else {
            journal = try Journal.create(journalPath, header: config.header)
        }
        for s in committed { state[s] = .done }
        queue = (0..<shards.count).filter { !committed.contains($0) }
        summary.shards = shards.count
        summary.resumedShards = committed.count
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
                                    commitEndpoint: commitEndpoint, security: config.curve,
                                    maxMessageBytes: Int64(config.shardSize * sampleSize * 4 * 2 + (1 << 20)),
                                    expectedLabels: { evalSet.labels(first: $0.lowerBound, count: $0.count) })
    }

    /// Index ranges of the shards, in id order.
    public var shardRanges: [Range<Int>] { shards }

    private var samplesDone: Int {
        var n = 0
        for (i, s) in state.enumerated() { if case .done = s { n += shards[i].count } }
        return n
    }

    private var allDone: Bool { state.allSatisfy { if case .done = $0 { return true } else { return false } } }

    /// Runs until every shard is committed, a stop signal arrives, or a fatal worker error.
    public func run() throws -> CoordinatorSummary {
        let started = Date()
        try aggregator.start()
        defer { aggregator.stop(); journal.close(); authenticator?.stop() }
        let bar = ProgressBar(total: config.evalSet.samples, baseline: samplesDone, enabled: config.progress && isatty(2) != 0)
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
            }
            bar.update(done: samplesDone, workers: workers.count)
            onTick?()
            if let r = abortReason { fatal = r }
        }
        try drainCommits(bar: bar)
        bar.update(done: samplesDone, workers: workers.count, force: true)
        bar.finish()
        var bye = Flowturbo_V1_Envelope()
        bye.shutdown.reason = fatal ?? (summary.interrupted ? "interrupted" : "run complete")
        for id in workers.keys { send(bye, to: id) }
        summary.completed = allDone
        summary.elapsedSeconds = Date().timeIntervalSince(started)
        aggregator.stop()
        summary.aggregator = aggregator.stats
        summary.authRejected = authenticator?.stats.rejected ?? 0
        if let f = fatal { throw FlowError(f) }
        return summary
    }

    private func send(_ env: Flowturbo_V1_Envelope, to id: [UInt8]) {
        guard let bytes = try? env.serializedBytes() as [UInt8] else { return }
        do { try router.send([id, bytes], dontWait: true) } catch {
            // EHOSTUNREACH: the peer disconnected; liveness will reap it.
        }
    }

    /// Journals every commit waiting on the inproc socket with one fsync (group commit).
    private func drainCommits(bar: ProgressBar) throws {
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
            state[c.shard] = .done
            queue.removeAll { $0 == c.shard }
            summary.committedThisSession += 1
        }
        onCommit?(samplesDone, config.evalSet.samples)
        // Workers parked at their in-flight limit can take more now.
        for (id, w) in workers where w.idle && !queue.isEmpty { assign(to: id, now: Date()) }
    }

    /// Counts a malformed control message from a peer; past `maxMalformedPerPeer` the peer is told to
    /// shut down and ignored from then on (its leases go back to the queue).
    private func malformed(from id: [UInt8]) {
        malformedByPeer[id, default: 0] += 1
        guard malformedByPeer[id]! >= config.maxMalformedPerPeer else { return }
        malformedByPeer.removeValue(forKey: id)
        ban(id, reason: "\(config.maxMalformedPerPeer) malformed control messages; disconnecting")
    }

    private func ban(_ id: [UInt8], reason: String) {
        var bye = Flowturbo_V1_Envelope()
        bye.shutdown.reason = reason
        send(bye, to: id)
        workers.removeValue(forKey: id)
        banned.insert(id)
        summary.bannedWorkers += 1
        if let key = keyOf[id] { authenticator?.revoke(key) }
        for s in state.indices { if case .leased(let w, _, _) = state[s], w == id { requeue(shard: s, ifLeasedTo: id) } }
    }

    /// The aggregator refused a result: NaN/Inf latents (mark the shard, re-run it on another worker,
    /// shut down a repeat offender) or a fatal write error such as a full disk (stop the run).
    private func aggregatorError(_ e: Flowturbo_V1_Error) {
        if e.fatal { abortReason = e.message; return }
        guard let s = Int(exactly: e.shardID), s < shards.count, case .leased(let w, _, _) = state[s] else { return }
        summary.nonFiniteShards += 1
        summary.nonFiniteShardIDs.append(s)
        summary.workerErrors.append("\(e.workerID): shard \(s): \(e.message)")
        excluded[s, default: []].insert(w)
        nonFiniteByWorker[w, default: 0] += 1
        requeue(shard: s, ifLeasedTo: nil)
        if nonFiniteByWorker[w]! >= config.maxNonFiniteResultsPerWorker {
            ban(w, reason: "\(nonFiniteByWorker[w]!) results with NaN/Inf latents; check this worker's hardware and model files")
        }
    }

    private func drainMonitor() {
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

    /// Handles one control message; returns a fatal error text to stop the run.
    private func handleControl(_ frames: [[UInt8]]) throws -> String? {
        if let id = frames.first, banned.contains(id) { summary.droppedFrames += 1; return nil }
        if frames.count == 2 && frames[1].count > config.maxControlFrameBytes { summary.oversizedFrames += 1; malformed(from: frames[0]); return nil }
        guard frames.count == 2, let env = try? Flowturbo_V1_Envelope(serializedBytes: frames[1]), env.body != nil else {
            summary.droppedFrames += 1
            if let id = frames.first { malformed(from: id) }
            return nil
        }
        let id = frames[0]
        let now = Date()
        switch env.body! {
        case .hello(let h):
            guard h.protocolVersion == UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue) else {
                var e = Flowturbo_V1_Envelope()
                e.shutdown.reason = "protocol version \(h.protocolVersion) != \(Flowturbo_V1_ProtocolVersion.current.rawValue); update the worker"
                send(e, to: id); summary.droppedFrames += 1; return nil
            }
            if workers[id] == nil { summary.workersSeen += 1 }
            workers[id] = WorkerInfo(id: h.workerID, lastSeen: now, idle: false)
            var w = Flowturbo_V1_Envelope()
            w.welcome.dataPort = UInt32(aggregator.port)
            w.welcome.heartbeatIntervalMs = UInt32(config.heartbeatIntervalMs)
            w.welcome.liveness = UInt32(config.liveness)
            w.welcome.runID = runID
            send(w, to: id)
        case .workRequest:
            guard workers[id] != nil else { return askHello(id) }
            workers[id]!.lastSeen = now
            assign(to: id, now: now)
        case .heartbeat:
            guard workers[id] != nil else { return askHello(id) }
            workers[id]!.lastSeen = now
        case .error(let e):
            // Only registered workers may report errors (and stop the run with a fatal one).
            guard workers[id] != nil else { summary.droppedFrames += 1; return askHello(id) }
            workers[id]?.lastSeen = now
            summary.workerErrors.append("\(e.workerID): shard \(e.shardID): \(e.message)")
            requeue(shard: Int(exactly: e.shardID) ?? -1, ifLeasedTo: id)
            if e.fatal { return "worker \(e.workerID) cannot run the assignment: \(e.message)" }
            if summary.workerErrors.count >= 3 * max(1, shards.count) { return "too many worker errors; last: \(e.message)" }
        default:
            summary.droppedFrames += 1
        }
        return nil
    }

    /// A message from an unknown peer (e.g. after a coordinator restart): ask it to say hello.
    private func askHello(_ id: [UInt8]) -> String? {
        var e = Flowturbo_V1_Envelope()
        e.noWork.retryAfterMs = 0   // a NoWork before Welcome tells the worker to re-send its hello
        send(e, to: id)
        return nil
    }

    private func assign(to id: [UInt8], now: Date) {
        guard workers[id] != nil else { return }
        var inFlight = 0
        for st in state { if case .leased(let w, _, _) = st, w == id { inFlight += 1 } }
        // Prefer a shard this worker has not failed with NaN/Inf; take an excluded one only when
        // every live worker is excluded from it (no one else could run it).
        let live = Set(workers.keys)
        let pick = queue.firstIndex { !(excluded[$0]?.contains(id) ?? false) }
            ?? queue.firstIndex { live.isSubset(of: excluded[$0] ?? []) }
        guard inFlight < config.maxInFlightPerWorker, let qi = pick else { workers[id]!.idle = true; return }
        let s = queue.remove(at: qi)
        let lease = nextLease; nextLease += 1
        state[s] = .leased(worker: id, lease: lease, deadline: now.addingTimeInterval(config.leaseSeconds))
        workers[id]!.idle = false
        let r = shards[s]
        var a = Flowturbo_V1_ShardAssignment()
        a.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
        a.shardID = UInt64(s)
        a.evalSet.evalSetID = config.evalSet.id
        a.evalSet.samples = UInt64(config.evalSet.samples)
        a.evalSet.classes = UInt32(config.evalSet.classes)
        a.evalSet.labelMode = config.evalSet.labelMode.rawValue
        if config.evalSet.isText { a.evalSet.prompts = Array(config.evalSet.prompts[r]) }
        a.firstIndex = UInt64(r.lowerBound)
        a.count = UInt64(r.count)
        a.plan = config.plan
        a.guidanceScale = config.guidanceScale
        a.guidanceChannels = UInt32(config.guidanceChannels)
        a.refinerStep = config.refinerStep
        a.batch = UInt32(config.batch)
        a.seed = config.evalSet.seed
        a.models = config.models
        a.leaseDeadlineUnixMs = Int64(now.addingTimeInterval(config.leaseSeconds).timeIntervalSince1970 * 1000)
        a.leaseID = lease
        a.labels = config.evalSet.isText ? [] : config.evalSet.labels(first: r.lowerBound, count: r.count)
        var env = Flowturbo_V1_Envelope(); env.assignment = a
        summary.assignments += 1
        send(env, to: id)
    }

    private func requeue(shard s: Int, ifLeasedTo id: [UInt8]?) {
        guard s >= 0, s < state.count, case .leased(let w, _, _) = state[s], id == nil || w == id! else { return }
        state[s] = .pending
        queue.insert(s, at: 0)
        summary.requeues += 1
        // Hand it to a parked idle worker right away.
        if let idle = workers.first(where: { $0.value.idle })?.key { assign(to: idle, now: Date()) }
    }

    private func expire(now: Date, deadAfter: Double) {
        let dead = workers.filter { now.timeIntervalSince($0.value.lastSeen) > deadAfter }.map { $0.key }
        for id in dead { workers.removeValue(forKey: id) }
        for s in state.indices {
            guard case .leased(let w, _, let deadline) = state[s] else { continue }
            if workers[w] == nil || deadline < now { requeue(shard: s, ifLeasedTo: nil) }
        }
    }
}
