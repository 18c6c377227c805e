import FlowProto
import FlowTensor
import Foundation

/// When the run cannot go on as it is: NaN/Inf results, backup leases for stuck holders, audits, and the
/// no-progress rule.
extension Scheduler {
    /// The periodic checks: the no-progress rule, then audits (when auditing is on).
    mutating func checks(now: Date, audit: AuditView?) -> [SchedulerAction] {
        if let stop = checkProgress(now: now) { return [.fail(stop)] }
        guard let audit = audit else { return [] }
        return handleAudits(audit, now: now)
    }

    /// The no-progress rule: every worker that joined was banned and none is left for `noProgressSeconds`.
    mutating func checkProgress(now: Date) -> String? {
        guard !allDone, policy.stalled(liveWorkers: liveRoutes.count) else {
            stalledSince = nil
            return nil
        }
        let since = stalledSince ?? now
        stalledSince = since
        // Two or more workers failing the same run with fatal errors prove the configuration wrong: no wait.
        let proven = policy.fatalReporters.count >= 2
        return proven || now.timeIntervalSince(since) >= limits.noProgressSeconds ? noProgressMessage : nil
    }

    /// Audits: re-lease held shards to workers that have not computed them, ban the workers whose bytes lost,
    /// waive an audit nobody else can confirm, and end the run when a conflict has no one to decide it.
    mutating func handleAudits(_ audit: AuditView, now: Date) -> [SchedulerAction] {
        var actions: [SchedulerAction] = []
        for event in audit.events {
            switch event {
            case .held(let s, let holder):
                policy.auditHeld(shard: s, route: holder, workerID: peers[holder]?.liveWorkerID)
                if case .leased(let h, _, _) = state[s], h == holder {
                    setState(s, .pending)
                    queueFront(s)
                }
            case .liars(let s, let holders):
                for h in holders where peers[h]?.banned != true {
                    let why = "audit: its latents for shard \(s) differ from two other workers'; check this worker"
                    actions += ban(h, reason: why, now: now)
                }
            }
        }
        let live = liveRoutes
        // Only queued shards with held audit results can be blocked: visit those, in queue order.
        for s in queue.frontFirst(policy.auditedShards) where !live.isEmpty && policy.auditBlocked(s, live: live) {
            guard let candidates = audit.candidates(s) else { continue }
            guard candidates > 1 else {
                actions.append(.waiveAudit(s))
                policy.auditDone(shard: s)
                continue
            }
            let since = auditStuck[s] ?? now
            auditStuck[s] = since
            if now.timeIntervalSince(since) >= limits.noProgressSeconds {
                let stop =
                    "audit of shard \(s): workers returned different latents and no other worker came to decide "
                    + "within \(Int(limits.noProgressSeconds)) s; the journal is intact — add a worker and rerun "
                    + "with \(Setting.resume)"
                return actions + [.fail(stop)]
            }
        }
        return actions + assignIdle(now: now)
    }

    /// The aggregator refused a result with NaN/Inf latents: mark the shard, re-run it on another worker, ban a
    /// repeat offender. Results reach this point only with a valid lease, so the lease names the worker.
    mutating func nonFiniteResult(_ e: Flowturbo_V1_Error, now: Date) -> [SchedulerAction] {
        guard let s = Int(exactly: e.shardID), s < shards.count, let lease = lease(e.leaseID), lease.shard == s,
            state[s] != .done
        else { return [] }
        let w = lease.holder
        summary.nonFiniteShards += 1
        summary.nonFiniteShardIDs.append(s)
        summary.workerErrors.append("\(e.workerID): shard \(s): \(e.message)")
        policy.exclude(route: w, from: s)
        updatePeer(w) { $0.nonFinite += 1 }
        let n = peers[w]!.nonFinite
        var actions = requeue(shard: s, ifLeasedTo: w, now: now)
        if n >= limits.maxNonFiniteResultsPerWorker && peers[w]?.banned != true {
            let reason = "\(n) results with NaN/Inf latents; check this worker's hardware and model files"
            actions += ban(w, reason: reason, now: now)
        }
        return actions
    }

    /// Gives an idle peer with nothing queued a second lease of the shard leased longest, when that lease is
    /// older than `backupAfterSeconds` and 4× the median shard time (one backup per shard and per peer).
    mutating func assignBackup(to route: [UInt8], now: Date) -> [SchedulerAction] {
        guard queue.isEmpty, let peer = peers[route], peer.live, let workerID = peer.workerID,
            !backups.values.contains(route)
        else { return [] }
        let threshold = max(limits.backupAfterSeconds, 4 * (shardSeconds.median ?? 0))
        // The oldest lease (the lowest shard id among equals) of another holder: only leased shards are visited.
        var oldest: (shard: Int, started: Date)?
        for (holder, leased) in held where holder != route {
            for s in leased {
                guard case .leased(_, _, let started) = state[s], backups[s].map({ peers[$0]?.live != true }) ?? true,
                    policy.mayTake(s, route: route, workerID: workerID), now.timeIntervalSince(started) >= threshold
                else { continue }
                if let o = oldest, (o.started, o.shard) < (started, s) { continue }
                oldest = (s, started)
            }
        }
        guard let s = oldest?.shard else { return [] }
        let lease = issueLease(shard: s, holder: route)
        backups[s] = route
        updatePeer(route) { $0.idle = false }
        summary.assignments += 1
        summary.backupLeases += 1
        return [.lease(shard: s, leaseID: lease, holder: route, backup: true)]
    }
}
