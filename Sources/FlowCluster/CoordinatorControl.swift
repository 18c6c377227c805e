import FlowProto
import Foundation

/// The control messages of workers: hello (admission), work requests (leases), heartbeats and errors; bans and
/// re-queues.
extension Coordinator {
    /// Counts a malformed control message from a peer; past `maxMalformedPerPeer` the peer is told to
    /// shut down and ignored from then on (its leases go back to the queue).
    func malformed(from id: [UInt8]) {
        guard policy.malformedMessage(from: id) else { return }
        // Anyone can send garbage under any claimed worker id: ban only this connection, not the id.
        let reason = "\(config.maxMalformedPerPeer) malformed control messages; disconnecting"
        ban(id, reason: reason, includingWorkerID: false)
    }

    /// Tells one identity (routing id + worker id, not its CURVE key, which other workers may share) to shut
    /// down, ignores it from then on, revokes its leases and re-queues its shards. The worker id is banned only
    /// for what a lease holder did (NaN/Inf results, fatal errors, lost audits).
    func ban(_ id: [UInt8], reason: String, includingWorkerID: Bool = true) {
        var bye = Flowturbo_V1_Envelope()
        bye.shutdown.reason = reason
        bye.shutdown.refused = true
        send(bye, to: id)
        log.warning("banned: \(reason)", metadata: workerMetadata(id))
        policy.ban(route: id, workerID: workers[id]?.id, reason: reason, includingWorkerID: includingWorkerID)
        workers.removeValue(forKey: id)
        summary.bannedWorkers += 1
        leases.revoke(holder: id)
        requeueAll(of: id)
    }

    /// Re-queues every shard leased to `id`.
    func requeueAll(of id: [UInt8]) {
        for s in state.indices {
            if case .leased(let w, _, _) = state[s], w == id { requeue(shard: s, ifLeasedTo: id) }
        }
    }

    /// Handles one control message; returns a fatal error text to stop the run.
    func handleControl(_ frames: [[UInt8]]) throws -> String? {
        if let id = frames.first, policy.isBanned(id) { summary.droppedFrames += 1; return nil }
        if frames.count == 2 && frames[1].count > config.maxControlFrameBytes {
            summary.oversizedFrames += 1
            malformed(from: frames[0])
            return nil
        }
        guard frames.count == 2, let env = try? Flowturbo_V1_Envelope(serializedBytes: frames[1]),
              env.body != nil else {
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
                log.warning("refused: \(why)", metadata: workerMetadata(id, claimed: h.workerID))
                if workers.removeValue(forKey: id) != nil { requeueAll(of: id) }
                return nil
            }
            if workers[id] == nil {
                summary.workersSeen += 1
                log.info("worker joined", metadata: ["worker": "\(h.workerID)", "host": "\(h.host)"])
            }
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
            // A worker that keeps failing its leases is retired (not the whole run: one peer's errors prove
            // nothing about the configuration).
            if policy.leaseError(from: id) {
                ban(id, reason: "\(WorkerPolicy.maxLeaseErrors) errors about its assignments; last: \(e.message)")
            }
        default:
            summary.droppedFrames += 1
        }
        return nil
    }

    /// A message from an unknown peer (e.g. after a coordinator restart): ask it to say hello.
    func askHello(_ id: [UInt8]) -> String? {
        var e = Flowturbo_V1_Envelope()
        e.noWork.retryAfterMs = 0   // a NoWork before Welcome tells the worker to re-send its hello
        send(e, to: id)
        return nil
    }

    func assign(to id: [UInt8], now: Date) {
        guard workers[id] != nil else { return }
        var inFlight = 0
        for st in state { if case .leased(let w, _, _) = st, w == id { inFlight += 1 } }
        let pick = policy.pick(queue, for: id, workerID: workers[id]!.id, live: Set(workers.keys))
        guard inFlight < config.maxInFlightPerWorker, let qi = pick else {
            workers[id]!.idle = true
            if inFlight == 0 { assignBackup(to: id, now: now) }
            return
        }
        let s = queue.remove(at: qi)
        let lease = leases.issue(shard: s, holder: id, key: keyOf[id])
        state[s] = .leased(worker: id, lease: lease.id, deadline: now.addingTimeInterval(config.leaseSeconds))
        workers[id]!.idle = false
        var env = Flowturbo_V1_Envelope()
        env.assignment = config.assignment(shard: s, range: shards[s], lease: lease, now: now)
        summary.assignments += 1
        send(env, to: id)
    }

    func requeue(shard s: Int, ifLeasedTo id: [UInt8]?) {
        guard s >= 0, s < state.count, case .leased(let w, let lease, _) = state[s], id == nil || w == id! else { return }
        log.info("lease requeued", metadata: ["shard": "\(s)", "lease": "\(lease)"])
        state[s] = .pending
        queue.insert(s, at: 0)
        summary.requeues += 1
        // Hand it to a parked idle worker right away.
        if let idle = workers.first(where: { $0.value.idle })?.key { assign(to: idle, now: Date()) }
    }

    func expire(now: Date, deadAfter: Double) {
        let dead = workers.filter { now.timeIntervalSince($0.value.lastSeen) > deadAfter }.map { $0.key }
        for id in dead {
            log.warning("worker silent for over \(Int(deadAfter * 1000)) ms: presumed dead", metadata: workerMetadata(id))
            workers.removeValue(forKey: id)
        }
        for s in state.indices {
            guard case .leased(let w, _, let deadline) = state[s] else { continue }
            if workers[w] == nil || deadline < now { requeue(shard: s, ifLeasedTo: nil) }
        }
    }
}
