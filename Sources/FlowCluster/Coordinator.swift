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
    /// Every lease issued (token, holder); the aggregator writes only results that answer one of them.
    private let leases = LeaseBook()
    private var policy: WorkerPolicy
    /// Since when no worker is left while some were banned (the no-progress rule).
    private var stalledSince: Date?
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
    /// CURVE public key of each peer (ZAP User-Id): a lease is bound to its holder's key.
    private var keyOf: [[UInt8]: String] = [:]

    /// Stops the run from `onTick` with a fatal error (e.g. every local worker keeps crashing).
    public func abort(_ reason: String) { abortReason = reason }

    /// Workers banned so far (an embedding launcher with no workers left can stop at once).
    public var bannedWorkers: Int { policy.bannedRoutes.count }

    /// The error text when no worker is left to make progress.
    public var noProgressMessage: String { policy.noProgressMessage(pendingShards: shards.count - doneCount) }

    /// Binds both sockets, opens or resumes the journal. Throws a clear error for a journal whose
    /// configuration differs or an existing run without `resume`.
    public init(config: CoordinatorConfig, context: ZMQContext) throws {
        precondition(config.shardSize > 0 && config.shardSize % config.batch == 0)
        self.config = config
        self.context = context
        try PrivateFiles.makeDirectory(config.outDir)
        policy = WorkerPolicy(models: config.models, maxNonFinite: config.maxNonFiniteResultsPerWorker,
                              maxMalformed: config.maxMalformedPerPeer)
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
                                    commitEndpoint: commitEndpoint, leases: leases, security: config.curve,
                                    maxMessageBytes: Int64(config.shardSize * sampleSize * 4 * 2 + (1 << 20)),
                                    expectedLabels: { evalSet.labels(first: $0.lowerBound, count: $0.count) })
    }

    /// Index ranges of the shards, in id order.
    public var shardRanges: [Range<Int>] { shards }

    private var doneCount: Int { state.reduce(0) { if case .done = $1 { return $0 + 1 } else { return $0 } } }

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
            if fatal == nil { fatal = checkProgress(now: now) }
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
        guard policy.malformedMessage(from: id) else { return }
        ban(id, reason: "\(config.maxMalformedPerPeer) malformed control messages; disconnecting")
    }

    /// Tells one identity (routing id + worker id, not its CURVE key, which other workers may share) to shut
    /// down, ignores it from then on, revokes its leases and re-queues its shards.
    private func ban(_ id: [UInt8], reason: String) {
        var bye = Flowturbo_V1_Envelope()
        bye.shutdown.reason = reason
        bye.shutdown.refused = true
        send(bye, to: id)
        policy.ban(route: id, workerID: workers[id]?.id, reason: reason)
        workers.removeValue(forKey: id)
        summary.bannedWorkers += 1
        leases.revoke(holder: id)
        requeueAll(of: id)
    }

    /// Re-queues every shard leased to `id`.
    private func requeueAll(of id: [UInt8]) {
        for s in state.indices {
            if case .leased(let w, _, _) = state[s], w == id { requeue(shard: s, ifLeasedTo: id) }
        }
    }

    /// The no-progress rule: every worker that joined was banned and none is left for `noProgressSeconds`.
    private func checkProgress(now: Date) -> String? {
        guard !allDone, policy.stalled(liveWorkers: workers.count) else { stalledSince = nil; return nil }
        let since = stalledSince ?? now
        stalledSince = since
        // Two or more workers failing the same run with fatal errors prove the configuration wrong: no wait.
        let proven = policy.fatalReporters.count >= 2
        return proven || now.timeIntervalSince(since) >= config.noProgressSeconds ? noProgressMessage : nil
    }

    /// The aggregator refused a result: NaN/Inf latents (mark the shard, re-run it on another worker,
    /// shut down a repeat offender) or a fatal write error such as a full disk (stop the run). Results
    /// reach this point only with a valid lease, so the lease names the worker responsible.
    private func aggregatorError(_ e: Flowturbo_V1_Error) {
        if e.fatal { abortReason = e.message; return }
        guard let s = Int(exactly: e.shardID), s < shards.count, let lease = leases.lease(e.leaseID),
              lease.shard == s else {
            return
        }
        if case .done = state[s] { return }
        let w = lease.holder
        summary.nonFiniteShards += 1
        summary.nonFiniteShardIDs.append(s)
        summary.workerErrors.append("\(e.workerID): shard \(s): \(e.message)")
        let banNow = policy.nonFiniteResult(shard: s, from: w)
        requeue(shard: s, ifLeasedTo: w)
        if banNow && !policy.isBanned(w) {
            let n = policy.nonFiniteCount(w)
            ban(w, reason: "\(n) results with NaN/Inf latents; check this worker's hardware and model files")
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
        if let id = frames.first, policy.isBanned(id) { summary.droppedFrames += 1; return nil }
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
            if let why = policy.refusal(h) {
                // Refused at the door: it never gets a lease, so it can neither send results nor stop the run.
                var e = Flowturbo_V1_Envelope()
                e.shutdown.reason = why
                e.shutdown.refused = true
                send(e, to: id)
                summary.refusedWorkers += 1
                if workers.removeValue(forKey: id) != nil { requeueAll(of: id) }
                return nil
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
            guard workers[id] != nil else { summary.droppedFrames += 1; return askHello(id) }
            workers[id]?.lastSeen = now
            // Only an error about a lease the sender holds counts; anything else changes nothing.
            guard let s = Int(exactly: e.shardID), s < shards.count, case .leased(let holder, let lease, _) = state[s],
                  holder == id, e.leaseID == 0 || e.leaseID == lease else {
                summary.ignoredErrors += 1
                return nil
            }
            let who = workers[id]?.id ?? e.workerID
            summary.workerErrors.append("\(who): shard \(s): \(e.message)")
            requeue(shard: s, ifLeasedTo: id)
            if e.fatal {
                // This worker cannot run the run's assignments: retire it; the others go on. The run stops
                // only when no worker is left (the no-progress rule).
                policy.fatalError(from: who)
                ban(id, reason: "cannot run this run's assignments: \(e.message)")
                return nil
            }
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
        let pick = policy.pick(queue, for: id, live: Set(workers.keys))
        guard inFlight < config.maxInFlightPerWorker, let qi = pick else { workers[id]!.idle = true; return }
        let s = queue.remove(at: qi)
        let lease = leases.issue(shard: s, holder: id, key: keyOf[id])
        state[s] = .leased(worker: id, lease: lease.id, deadline: now.addingTimeInterval(config.leaseSeconds))
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
        a.batch = UInt32(config.batch)
        a.seed = config.evalSet.seed
        a.models = config.models
        a.leaseDeadlineUnixMs = Int64(now.addingTimeInterval(config.leaseSeconds).timeIntervalSince1970 * 1000)
        a.leaseID = lease.id
        a.leaseToken = Data(lease.token)
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
