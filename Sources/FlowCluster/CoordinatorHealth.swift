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
}
