import FlowProto
import Foundation

/// The coordinator's policy as a pure state machine (swift-nio's `…StateMachine` pattern): shard states,
/// the queue, leases, re-queues, the in-flight limit, expiry, bans, NaN/Inf re-runs, backup leases, audits and
/// the no-progress rule, driven by one `mutating func` per event. Every event carries `now` (the scheduler never
/// reads a clock) and returns the `SchedulerAction`s the I/O shell (`Coordinator`) performs in order.
struct Scheduler {
    // Stored properties are internal so the extensions in SchedulerControl/SchedulerHealth can update them; the
    // shell (`Coordinator`) only reads them, and changes them only through events.
    /// A shard's state; a lease remembers its holder, id and when it was issued.
    enum ShardState: Equatable {
        case pending
        case leased(holder: [UInt8], lease: UInt64, since: Date)
        case done
    }

    /// What a control frame from a peer turned out to be (decoding is the shell's job).
    enum ControlInput {
        /// Larger than `maxControlFrameBytes`.
        case oversized
        /// Not one frame of a protobuf envelope with a body.
        case undecodable
        case message(Flowturbo_V1_Envelope.OneOf_Body)
    }

    let limits: SchedulerLimits
    /// Index ranges of the shards, in id order.
    let shards: [Range<Int>]
    /// Shards this coordinator computes: all, or those of its part (`RunPart`).
    let owned: [Bool]
    var state: [ShardState]
    /// Pending shard ids, front first.
    var queue: [Int]
    /// Every control connection seen, by routing identity.
    var peers: [[UInt8]: Peer] = [:]
    var policy: WorkerPolicy
    /// Second leases of shards whose holder takes too long (shard → backup holder).
    var backups: [Int: [UInt8]] = [:]
    /// Shard and holder of every lease issued (to name the worker behind a NaN/Inf result).
    var leaseOf: [UInt64: (shard: Int, holder: [UInt8])] = [:]
    var nextLease: UInt64 = 1
    /// How long committed shards took from lease to commit (the backup threshold's median).
    var shardSeconds: [Double] = []
    /// Since when no worker is left while some were banned (the no-progress rule).
    var stalledSince: Date?
    /// Since when an audit conflict has had no one to decide it.
    var auditStuck: [Int: Date] = [:]
    var lastHeartbeat = Date.distantPast
    var summary = CoordinatorSummary()

    /// Shards not in `committed` (the journal's, on resume) and owned are queued in id order.
    init(shards: [Range<Int>], owned: [Bool], committed: Set<Int>, limits: SchedulerLimits) {
        precondition(owned.count == shards.count)
        self.limits = limits
        self.shards = shards
        self.owned = owned
        policy = WorkerPolicy(models: limits.models)
        state = shards.indices.map { committed.contains($0) ? .done : .pending }
        queue = shards.indices.filter { owned[$0] && !committed.contains($0) }
        summary.shards = owned.filter { $0 }.count
        summary.resumedShards = committed.count
    }

    var doneCount: Int { state.reduce(0) { $1 == .done ? $0 + 1 : $0 } }

    var samplesDone: Int { zip(state, shards).reduce(0) { $0 + ($1.0 == .done ? $1.1.count : 0) } }

    /// Samples this coordinator computes (the whole set, or its part's shards).
    var samplesOwned: Int { zip(shards, owned).reduce(0) { $0 + ($1.1 ? $1.0.count : 0) } }

    var allDone: Bool { zip(state, owned).allSatisfy { $0 == .done || !$1 } }

    /// Routing identities of the admitted peers.
    var liveRoutes: Set<[UInt8]> { Set(peers.filter { $0.value.live }.keys) }

    var bannedCount: Int { policy.bannedCount }

    /// The error text when no worker is left to make progress.
    var noProgressMessage: String {
        policy.noProgressMessage(pendingShards: owned.filter { $0 }.count - doneCount)
    }

    /// Shards leased to `route` (its in-flight count).
    func inFlight(_ route: [UInt8]) -> Int {
        state.reduce(0) { if case .leased(let h, _, _) = $1, h == route { return $0 + 1 } else { return $0 } }
    }

    /// The heartbeat clock: when one is due, heartbeats to every live peer, expiry of silent peers and overdue
    /// leases, and another try at leasing to idle peers (backups for stuck leases).
    mutating func tick(now: Date) -> [SchedulerAction] {
        guard now.timeIntervalSince(lastHeartbeat) >= limits.heartbeatSeconds else { return [] }
        lastHeartbeat = now
        var actions = liveRoutes.map { SchedulerAction.heartbeat($0) }
        actions += expire(now: now)
        for (route, p) in peers where p.live && p.idle { actions += assign(to: route, now: now) }
        return actions
    }

    /// Drops peers silent for `liveness` heartbeats and re-queues their shards and every lease past its deadline.
    mutating func expire(now: Date) -> [SchedulerAction] {
        let deadAfter = limits.heartbeatSeconds * Double(limits.liveness)
        for (route, p) in peers where p.live && now.timeIntervalSince(p.lastSeen) > deadAfter {
            peers[route]!.live = false
            peers[route]!.idle = false
        }
        var actions: [SchedulerAction] = []
        for s in state.indices {
            guard case .leased(let holder, _, let since) = state[s] else { continue }
            if peers[holder]?.live != true || since.addingTimeInterval(limits.leaseSeconds) < now {
                actions += requeue(shard: s, ifLeasedTo: nil, now: now)
            }
        }
        return actions
    }

    /// The commit notices (shard ids) worth journaling: owned range, not done, first of their batch.
    mutating func freshCommits(_ notices: [Int]) -> [Int] {
        var seen = Set<Int>()
        var fresh: [Int] = []
        for s in notices where s >= 0 && s < shards.count {
            if state[s] == .done || !seen.insert(s).inserted {
                summary.duplicateCommits += 1
            } else {
                fresh.append(s)
            }
        }
        return fresh
    }

    /// Shards durably journaled: done; peers parked at their in-flight limit can take more now.
    mutating func committed(_ fresh: [Int], now: Date) -> [SchedulerAction] {
        for s in fresh {
            if case .leased(_, _, let since) = state[s] { shardSeconds.append(now.timeIntervalSince(since)) }
            backups[s] = nil
            state[s] = .done
            policy.auditDone(shard: s)
            auditStuck[s] = nil
            queue.removeAll { $0 == s }
            summary.committedThisSession += 1
        }
        return assignIdle(now: now)
    }

    /// Leases to every idle peer while the queue is not empty.
    mutating func assignIdle(now: Date) -> [SchedulerAction] {
        var actions: [SchedulerAction] = []
        for (route, p) in peers where p.live && p.idle && !queue.isEmpty { actions += assign(to: route, now: now) }
        return actions
    }

    /// Leases the first shard `route` may take, unless it is at its in-flight limit; with nothing for it and
    /// nothing in flight, maybe a backup lease. Otherwise the peer is parked (idle).
    mutating func assign(to route: [UInt8], now: Date) -> [SchedulerAction] {
        guard let peer = peers[route], peer.live, let workerID = peer.workerID else { return [] }
        let inFlight = inFlight(route)
        guard inFlight < limits.maxInFlightPerWorker,
            let qi = policy.pick(queue, for: route, workerID: workerID, live: liveRoutes)
        else {
            peers[route]!.idle = true
            return inFlight == 0 ? assignBackup(to: route, now: now) : []
        }
        let s = queue.remove(at: qi)
        let lease = issueLease(shard: s, holder: route)
        state[s] = .leased(holder: route, lease: lease, since: now)
        peers[route]!.idle = false
        summary.assignments += 1
        return [.lease(shard: s, leaseID: lease, holder: route, backup: false)]
    }

    /// A new lease id (sequential: ids are public, the shell's `LeaseBook` adds the secret token).
    mutating func issueLease(shard: Int, holder: [UInt8]) -> UInt64 {
        let id = nextLease
        nextLease += 1
        leaseOf[id] = (shard, holder)
        return id
    }

    /// The shard and holder of lease `id`, if it was issued.
    func lease(_ id: UInt64) -> (shard: Int, holder: [UInt8])? { leaseOf[id] }

    /// Puts shard `s` back at the front of the queue if it is leased (to `holder`, when given) and hands it to
    /// a parked idle peer right away.
    mutating func requeue(shard s: Int, ifLeasedTo holder: [UInt8]?, now: Date) -> [SchedulerAction] {
        guard s >= 0, s < state.count, case .leased(let h, _, _) = state[s], holder == nil || h == holder! else {
            return []
        }
        state[s] = .pending
        queue.insert(s, at: 0)
        summary.requeues += 1
        guard let idle = peers.first(where: { $0.value.live && $0.value.idle })?.key else { return [] }
        return assign(to: idle, now: now)
    }

    /// Re-queues every shard leased to `route`.
    mutating func requeueAll(of route: [UInt8], now: Date) -> [SchedulerAction] {
        var actions: [SchedulerAction] = []
        for s in state.indices {
            if case .leased(let h, _, _) = state[s], h == route {
                actions += requeue(shard: s, ifLeasedTo: route, now: now)
            }
        }
        return actions
    }
}
