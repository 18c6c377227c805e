import CZeroMQ
import FlowProto
import FlowTensor
import Foundation
import Logging

/// The coordinator's I/O: poll the control, commit and monitor sockets, turn what arrives into scheduler events
/// and perform the actions the scheduler returns (encode and send, lease book, journal).
extension Coordinator {
    /// Runs until every shard is committed, a stop signal arrives, or a fatal worker error.
    public func run() throws -> CoordinatorSummary {
        let started = Date()
        aggregator.onStageLatency = observer.map { o in { o.stageLatency($0, seconds: $1, count: $2) } }
        logState.requeues = scheduler.summary.requeues
        try aggregator.start()
        defer {
            aggregator.stop()
            journal.close()
            authenticator?.stop()
        }
        let mode = config.progress ? ProgressBar.Mode.forStderr(interval: config.progressInterval) : .off
        let bar = ProgressBar(total: scheduler.samplesOwned, baseline: scheduler.samplesDone, mode: mode)
        var fatal: String?
        while !scheduler.allDone && fatal == nil {
            if stopToken.isStopped {
                scheduler.summary.interrupted = true
                break
            }
            let ready = try ZMQPoll.readable([router, commits, monitor], timeoutMs: 100)
            if ready[1] { fatal = try drainCommits(bar: bar) ?? fatal }
            if ready[0] {
                while fatal == nil, let (frames, userID) = try router.receiveWithUserID(dontWait: true) {
                    fatal = control(frames, key: userID)
                }
            }
            if ready[2] { drainMonitor() }
            let now = Date()
            fatal = perform(scheduler.tick(now: now), now: now) ?? fatal
            bar.update(
                done: scheduler.samplesDone, workers: scheduler.liveRoutes.count,
                requeues: scheduler.summary.requeues)
            logTransitions()
            observer?.observe(snapshot)
            onTick?()
            if let r = abortReason { fatal = r }
            if fatal == nil {
                let view = audit.map { book in
                    AuditView(events: book.drainEvents()) { book.isPending($0) ? book.candidateCount($0) : nil }
                }
                fatal = perform(scheduler.checks(now: now, audit: view), now: now)
            }
        }
        fatal = try drainCommits(bar: bar) ?? fatal
        bar.update(
            done: scheduler.samplesDone, workers: scheduler.liveRoutes.count,
            requeues: scheduler.summary.requeues, force: true)
        bar.finish()
        logTransitions()
        observer?.observe(snapshot)
        var bye = Flowturbo_V1_Envelope()
        bye.shutdown.reason = fatal ?? (scheduler.summary.interrupted ? "interrupted" : "run complete")
        for id in scheduler.liveRoutes { send(bye, to: id) }
        var summary = scheduler.summary
        summary.completed = scheduler.allDone
        aggregator.stop()  // waits until every shard file is written and durable
        summary.elapsedSeconds = Date().timeIntervalSince(started)
        summary.aggregator = aggregator.stats
        summary.authRejected = authenticator?.stats.rejected ?? 0
        if let counts = audit?.counts { (summary.auditConfirmed, summary.auditConflicts) = counts }
        if let f = fatal { throw FlowError(f) }
        return summary
    }

    /// Decodes one control message into a scheduler event and performs its actions.
    func control(_ frames: [[UInt8]], key: String?) -> String? {
        guard let id = frames.first else {
            scheduler.summary.droppedFrames += 1
            return nil
        }
        let input: Scheduler.ControlInput
        if frames.count == 2 && frames[1].count > config.maxControlFrameBytes {
            input = .oversized
        } else if frames.count == 2, let env = try? Flowturbo_V1_Envelope(serializedBytes: frames[1]),
            let body = env.body
        {
            input = .message(body)
        } else {
            input = .undecodable
        }
        let now = Date()
        return perform(scheduler.received(input, from: id, key: key, now: now), now: now)
    }

    /// Performs the scheduler's actions in order; returns the error text of a `.fail`.
    @discardableResult
    func perform(_ actions: [SchedulerAction], now: Date) -> String? {
        var fatal: String?
        for action in actions {
            logAction(action)
            var env = Flowturbo_V1_Envelope()
            switch action {
            case .welcome(let id):
                env.welcome.dataPort = UInt32(aggregator.port)
                env.welcome.heartbeatIntervalMs = UInt32(config.heartbeatIntervalMs)
                env.welcome.liveness = UInt32(config.liveness)
                env.welcome.runID = runID
                send(env, to: id)
            case .shutdown(let id, let reason, let refused):
                env.shutdown.reason = reason
                env.shutdown.refused = refused
                send(env, to: id)
            case .askHello(let id):
                env.noWork.retryAfterMs = 0  // a NoWork before Welcome tells the worker to re-send its hello
                send(env, to: id)
            case .heartbeat(let id):
                env.heartbeat = Flowturbo_V1_Heartbeat()
                send(env, to: id)
            case .lease(let s, let leaseID, let holder, _):
                let lease = leases.issue(id: leaseID, shard: s, holder: holder, key: scheduler.peers[holder]?.key)
                env.assignment = config.assignment(shard: s, range: scheduler.shards[s], lease: lease, now: now)
                send(env, to: holder)
            case .revoke(let id):
                leases.revoke(holder: id)
            case .waiveAudit(let s):
                audit?.waive(s)
            case .fail(let reason):
                fatal = fatal ?? reason
            }
        }
        return fatal
    }

    func send(_ env: Flowturbo_V1_Envelope, to id: [UInt8]) {
        guard let bytes = try? env.serializedBytes() as [UInt8] else { return }
        do { try router.send([id, bytes], dontWait: true) } catch {
            // EHOSTUNREACH: the peer disconnected; liveness will reap it.
        }
    }

    /// Journals every commit waiting on the inproc socket with one fsync (group commit); the aggregator's
    /// refusals of NaN/Inf results become scheduler events, its fatal write errors stop the run.
    func drainCommits(bar: ProgressBar) throws -> String? {
        var notices: [Int: Flowturbo_V1_ShardCommitted] = [:]
        var order: [Int] = []
        var fatal: String?
        while let frames = try commits.receive(dontWait: true) {
            guard frames.count == 1, let env = try? Flowturbo_V1_Envelope(serializedBytes: frames[0]) else { continue }
            if case .error(let e)? = env.body {
                if e.fatal {
                    abortReason = e.message
                } else {
                    fatal = perform(scheduler.nonFiniteResult(e, now: Date()), now: Date()) ?? fatal
                }
                continue
            }
            guard case .committed(let c)? = env.body, let s = Int(exactly: c.shardID) else { continue }
            order.append(s)
            if notices[s] == nil { notices[s] = c }
        }
        let fresh = scheduler.freshCommits(order)
        guard !fresh.isEmpty else { return fatal }
        try journal.append(
            contentsOf: fresh.map { s in
                let c = notices[s]!
                let r = scheduler.shards[s]
                return ShardCommit(
                    shard: s, first: r.lowerBound, count: r.count, file: c.file, checksum: c.checksum,
                    worker: c.workerID)
            })
        let now = Date()
        let actions = scheduler.committed(fresh, now: now)
        onCommit?(scheduler.samplesDone, scheduler.samplesOwned)
        // Workers parked at their in-flight limit can take more now.
        return perform(actions, now: now) ?? fatal
    }

    func drainMonitor() {
        while let frames = try? monitor.receive(dontWait: true), frames.count >= 1, frames[0].count >= 6 {
            // Frame 1 of a monitor event: event id (16 bits) then its value (32 bits, unused here).
            let event = Int32(frames[0][0]) | Int32(frames[0][1]) << 8
            switch event {
            case ZMQ_EVENT_ACCEPTED: accepted += 1
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: handshakes += 1
            case ZMQ_EVENT_DISCONNECTED: scheduler.summary.disconnects += 1
            default: break
            }
            // libzmq reports no fd with HANDSHAKE_SUCCEEDED, and non-ZMTP bytes often take the ZMTP/1.0
            // path without a failure event, so count connections that never completed a handshake.
            scheduler.summary.rejectedConnections = max(0, accepted - handshakes)
        }
    }
}
