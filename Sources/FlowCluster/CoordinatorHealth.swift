import FlowProto
import Foundation

/// When the run cannot go on as it is: NaN/Inf results and write errors from the aggregator, audits, and the
/// no-progress rule.
extension Coordinator {
    /// The no-progress rule: every worker that joined was banned and none is left for `noProgressSeconds`.
    func checkProgress(now: Date) -> String? {
        guard !allDone, policy.stalled(liveWorkers: workers.count) else { stalledSince = nil; return nil }
        let since = stalledSince ?? now
        stalledSince = since
        // Two or more workers failing the same run with fatal errors prove the configuration wrong: no wait.
        let proven = policy.fatalReporters.count >= 2
        return proven || now.timeIntervalSince(since) >= config.noProgressSeconds ? noProgressMessage : nil
    }

    /// Audits: re-lease held shards to workers that have not computed them, ban the workers whose bytes lost,
    /// waive an audit nobody else can confirm, and end the run when a conflict has no one to decide it.
    func handleAudits(now: Date) -> String? {
        guard let audit = audit else { return nil }
        for event in audit.drainEvents() {
            switch event {
            case .held(let s, let holder):
                policy.auditHeld(shard: s, route: holder, workerID: workers[holder]?.id)
                if case .leased(let w, _, _) = state[s], w == holder {
                    state[s] = .pending
                    queue.insert(s, at: 0)
                }
            case .liars(let s, let holders):
                for h in holders where !policy.isBanned(h) {
                    let why = "audit: its latents for shard \(s) differ from two other workers'; check this worker"
                    ban(h, reason: why)
                }
            }
        }
        let live = Set(workers.keys)
        for s in queue where !live.isEmpty && audit.isPending(s) && policy.auditBlocked(s, live: live) {
            guard audit.candidateCount(s) > 1 else {
                audit.waive(s)   // nobody else to compare with: the next result is written as it is
                policy.auditDone(shard: s)
                continue
            }
            let since = auditStuck[s] ?? now
            auditStuck[s] = since
            if now.timeIntervalSince(since) >= config.noProgressSeconds {
                return "audit of shard \(s): workers returned different latents and no other worker came to decide "
                    + "within \(Int(config.noProgressSeconds)) s; the journal is intact — add a worker and rerun "
                    + "with --resume"
            }
        }
        for (id, w) in workers where w.idle && !queue.isEmpty { assign(to: id, now: now) }
        return nil
    }

    /// The aggregator refused a result: NaN/Inf latents (mark the shard, re-run it on another worker,
    /// shut down a repeat offender) or a fatal write error such as a full disk (stop the run). Results
    /// reach this point only with a valid lease, so the lease names the worker responsible.
    func aggregatorError(_ e: Flowturbo_V1_Error) {
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

    /// Gives an idle worker with nothing queued a second lease of the shard leased longest, when that lease is
    /// older than `backupAfterSeconds` and 4× the median shard time (one backup per shard and per worker).
    func assignBackup(to id: [UInt8], now: Date) {
        guard queue.isEmpty, let worker = workers[id], !backups.values.contains(id) else { return }
        let sorted = shardSeconds.sorted()
        let threshold = max(config.backupAfterSeconds, 4 * (sorted.isEmpty ? 0 : sorted[sorted.count / 2]))
        var oldest: (shard: Int, started: Date)?
        for s in state.indices {
            guard case .leased(let holder, _, let deadline) = state[s], holder != id,
                  backups[s].map({ workers[$0] == nil }) ?? true,
                  policy.mayTake(s, route: id, workerID: worker.id) else { continue }
            let started = deadline.addingTimeInterval(-config.leaseSeconds)
            if now.timeIntervalSince(started) >= threshold && started < (oldest?.started ?? .distantFuture) {
                oldest = (s, started)
            }
        }
        guard let s = oldest?.shard else { return }
        let lease = leases.issue(shard: s, holder: id, key: keyOf[id])
        backups[s] = id
        workers[id]!.idle = false
        var env = Flowturbo_V1_Envelope()
        env.assignment = config.assignment(shard: s, range: shards[s], lease: lease, now: now)
        summary.assignments += 1
        summary.backupLeases += 1
        send(env, to: id)
    }
}
