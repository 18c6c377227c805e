import FlowProto
import Foundation

/// Control messages of peers: hello (admission), work requests (leases), heartbeats and errors; malformed
/// messages and bans.
extension Scheduler {
    /// One control frame from `route` (`key`: the CURVE key its connection authenticated with, if any).
    mutating func received(_ input: ControlInput, from route: [UInt8], key: String?, now: Date) -> [SchedulerAction] {
        if let key = key, peers[route]?.key == nil { updatePeer(route) { $0.key = key } }
        if peers[route]?.banned == true {
            summary.droppedFrames += 1
            return []
        }
        switch input {
        case .oversized:
            summary.oversizedFrames += 1
            return malformed(from: route, now: now)
        case .undecodable:
            summary.droppedFrames += 1
            return malformed(from: route, now: now)
        case .message(let body):
            return handle(body, from: route, now: now)
        }
    }

    /// Counts a malformed control message; past `maxMalformedPerPeer` the peer is banned. Anyone can send
    /// garbage under any claimed worker id: this bans only the connection, not the id.
    mutating func malformed(from route: [UInt8], now: Date) -> [SchedulerAction] {
        updatePeer(route) { $0.malformed += 1 }
        guard peers[route]!.malformed >= limits.maxMalformedPerPeer else { return [] }
        let reason = "\(limits.maxMalformedPerPeer) malformed control messages; disconnecting"
        return ban(route, reason: reason, includingWorkerID: false, now: now)
    }

    /// Tells one identity (routing id + worker id, not its CURVE key, which other workers may share) to shut
    /// down, ignores it from then on, revokes its leases and re-queues its shards. The worker id is banned only
    /// for what a lease holder did (NaN/Inf results, fatal errors, lost audits).
    mutating func ban(
        _ route: [UInt8], reason: String, includingWorkerID: Bool = true, now: Date
    )
        -> [SchedulerAction]
    {
        var actions: [SchedulerAction] = [.shutdown(route, reason: reason, refused: true)]
        policy.ban(workerID: peers[route]?.liveWorkerID, reason: reason, includingWorkerID: includingWorkerID)
        updatePeer(route) { peer in
            peer.banned = true
            peer.live = false
            peer.idle = false
            peer.malformed = 0
            peer.nonFinite = 0
        }
        summary.bannedWorkers += 1
        actions.append(.revoke(route))
        actions += requeueAll(of: route, now: now)
        return actions
    }

    /// A decoded control message of a peer that is not banned.
    mutating func handle(
        _ body: Flowturbo_V1_Envelope.OneOf_Body, from route: [UInt8], now: Date
    )
        -> [SchedulerAction]
    {
        let live = peers[route]?.live == true
        switch body {
        case .hello(let h):
            return hello(h, from: route, now: now)
        case .workRequest:
            guard live else { return [.askHello(route)] }
            touch(route, now: now)
            return assign(to: route, now: now)
        case .heartbeat:
            guard live else { return [.askHello(route)] }
            touch(route, now: now)
            return []
        case .error(let e):
            guard live else {
                summary.droppedFrames += 1
                return [.askHello(route)]
            }
            touch(route, now: now)
            return error(e, from: route, now: now)
        default:
            summary.droppedFrames += 1
            return []
        }
    }

    /// Admits a hello (Welcome) or refuses it at the door: a refused worker never gets a lease, so it can neither
    /// send results nor stop the run.
    mutating func hello(_ h: Flowturbo_V1_WorkerHello, from route: [UInt8], now: Date) -> [SchedulerAction] {
        if let why = policy.refusal(h) {
            var actions: [SchedulerAction] = [.shutdown(route, reason: why, refused: true)]
            summary.refusedWorkers += 1
            if peers[route]?.live == true {
                updatePeer(route) { peer in
                    peer.live = false
                    peer.idle = false
                }
                actions += requeueAll(of: route, now: now)
            }
            return actions
        }
        if peers[route]?.live != true { summary.workersSeen += 1 }
        updatePeer(route) { peer in
            peer.workerID = h.workerID
            peer.lastSeen = now
            peer.live = true
            peer.idle = false
        }
        return [.welcome(route)]
    }

    /// An error report of a live peer. Only an error about a lease the sender holds counts (re-queue; a fatal
    /// one or too many retire the worker, not the run); anything else changes nothing.
    mutating func error(_ e: Flowturbo_V1_Error, from route: [UInt8], now: Date) -> [SchedulerAction] {
        guard let s = Int(exactly: e.shardID), s < shards.count, case .leased(let holder, let lease, _) = state[s],
            holder == route, e.leaseID == 0 || e.leaseID == lease
        else {
            summary.ignoredErrors += 1
            return []
        }
        let who = peers[route]?.workerID ?? e.workerID
        summary.workerErrors.append("\(who): shard \(s): \(e.message)")
        var actions = requeue(shard: s, ifLeasedTo: route, now: now)
        if e.fatal {
            // This worker cannot run the run's assignments: retire it; the others go on. The run stops only
            // when no worker is left (the no-progress rule).
            policy.fatalError(from: who)
            return actions + ban(route, reason: "cannot run this run's assignments: \(e.message)", now: now)
        }
        updatePeer(route) { $0.leaseErrors += 1 }
        if peers[route]!.leaseErrors >= WorkerPolicy.maxLeaseErrors {
            let reason = "\(WorkerPolicy.maxLeaseErrors) errors about its assignments; last: \(e.message)"
            actions += ban(route, reason: reason, now: now)
        }
        return actions
    }
}
