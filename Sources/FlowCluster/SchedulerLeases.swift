import Foundation

/// Leases: the heartbeat tick and expiry, commits, assignment to idle peers, re-queues.
extension Scheduler {
    /// The heartbeat clock: when one is due, heartbeats to every live peer, expiry of silent peers and overdue
    /// leases, and another try at leasing to idle peers (backups for stuck leases).
    mutating func tick(now: Date) -> [SchedulerAction] {
        guard now.timeIntervalSince(lastHeartbeat) >= limits.heartbeatSeconds else { return [] }
        lastHeartbeat = now
        var actions = liveRoutes.map { SchedulerAction.heartbeat($0) }
        actions += expire(now: now)
        for route in idleRoutes { actions += assign(to: route, now: now) }
        return actions
    }

    /// Drops peers silent for `liveness` heartbeats and re-queues their shards and every lease past its deadline
    /// (leased shards in id order).
    mutating func expire(now: Date) -> [SchedulerAction] {
        let deadAfter = limits.heartbeatSeconds * Double(limits.liveness)
        for route in liveRoutes where now.timeIntervalSince(peers[route]!.lastSeen) > deadAfter {
            updatePeer(route) {
                $0.live = false
                $0.idle = false
            }
        }
        var actions: [SchedulerAction] = []
        for s in held.values.flatMap({ $0 }).sorted() {
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
            if case .leased(_, _, let since) = state[s] { shardSeconds.add(now.timeIntervalSince(since)) }
            backups[s] = nil
            setState(s, .done)
            policy.auditDone(shard: s)
            auditStuck[s] = nil
            dequeue(s)
            summary.committedThisSession += 1
        }
        return assignIdle(now: now)
    }

    /// Leases to every idle peer while the queue is not empty.
    mutating func assignIdle(now: Date) -> [SchedulerAction] {
        var actions: [SchedulerAction] = []
        for route in idleRoutes where !queue.isEmpty { actions += assign(to: route, now: now) }
        return actions
    }

    /// Leases the first shard `route` may take, unless it is at its in-flight limit; with nothing for it and
    /// nothing in flight, maybe a backup lease. Otherwise the peer is parked (idle).
    mutating func assign(to route: [UInt8], now: Date) -> [SchedulerAction] {
        guard let peer = peers[route], peer.live, let workerID = peer.workerID else { return [] }
        let inFlight = inFlight(route)
        guard inFlight < limits.maxInFlightPerWorker,
            let s = policy.pick(queue, for: route, workerID: workerID, live: liveRoutes)
        else {
            updatePeer(route) { $0.idle = true }
            return inFlight == 0 ? assignBackup(to: route, now: now) : []
        }
        dequeue(s)
        let lease = issueLease(shard: s, holder: route)
        setState(s, .leased(holder: route, lease: lease, since: now))
        updatePeer(route) { $0.idle = false }
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
        setState(s, .pending)
        queueFront(s)
        summary.requeues += 1
        guard let idle = idleRoutes.first else { return [] }
        return assign(to: idle, now: now)
    }

    /// Re-queues every shard leased to `route` (in id order).
    mutating func requeueAll(of route: [UInt8], now: Date) -> [SchedulerAction] {
        var actions: [SchedulerAction] = []
        for s in (held[route] ?? []).sorted() { actions += requeue(shard: s, ifLeasedTo: route, now: now) }
        return actions
    }
}
