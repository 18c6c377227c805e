import FlowProto
import FlowTensor

/// Who may take work, as a plain value the coordinator consults: admission at hello, bans by identity,
/// NaN/Inf exclusions and the "no worker can make progress" rule.
///
/// Bans name identities — the control connection's routing identity and the hello's worker id — never a
/// CURVE key: with one key shared by every worker (the README's `worker.key`), revoking the key of one
/// bad worker would lock out all the good ones.
struct WorkerPolicy {
    /// Models every worker must hold (role, digest).
    let models: [Flowturbo_V1_ModelDigest]
    /// Identities banned so far.
    private(set) var bannedCount = 0
    /// Worker ids of banned workers; a new hello with one of them is refused.
    private(set) var bannedIDs = Set<String>()
    /// "worker ID: reason" of the last ban (the error text when no worker is left).
    private(set) var lastBan: String?
    /// Distinct workers that reported a fatal error about a lease they held.
    private(set) var fatalReporters = Set<String>()
    /// Non-fatal errors about its own leases after which a worker is retired.
    static let maxLeaseErrors = 8
    /// Workers that returned NaN/Inf for a shard (it goes to someone else if possible).
    private var excluded: [Int: Set<[UInt8]>] = [:]
    /// Audits: routing identities and worker ids whose result of a shard is held; the shard goes only to others.
    private var auditRoutes: [Int: Set<[UInt8]>] = [:]
    private var auditIDs: [Int: Set<String>] = [:]

    init(models: [Flowturbo_V1_ModelDigest]) { self.models = models }

    /// Why a hello is refused, or nil to admit it: another protocol version, a banned worker id, or models
    /// whose digests differ from the run's (such a worker could only send errors or wrong latents).
    func refusal(_ h: Flowturbo_V1_WorkerHello) -> String? {
        let current = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
        guard h.protocolVersion == current else {
            return "protocol version \(h.protocolVersion) != \(current); update the worker"
        }
        if bannedIDs.contains(h.workerID) {
            return "worker \(h.workerID) was banned from this run (\(lastBan ?? "banned"))"
        }
        for m in models {
            guard let held = h.models.first(where: { $0.role == m.role }) else {
                return "this run needs a \(m.role) (\(m.spec)) but worker \(h.workerID) holds none; "
                    + "start it with the run's models"
            }
            if held.sha256 != m.sha256 {
                return "model digest mismatch for the \(m.role): the run uses \(m.spec)@\(m.sha256.prefix(12)), worker "
                    + "\(h.workerID) holds \(held.spec)@\(held.sha256.prefix(12)); start it with the run's models"
            }
        }
        return nil
    }

    /// Records a ban of one identity (the `Peer` record holds the routing identity's own flag and counters).
    mutating func ban(workerID: String?, reason: String, includingWorkerID: Bool = true) {
        bannedCount += 1
        if includingWorkerID, let id = workerID, !id.isEmpty { bannedIDs.insert(id) }
        lastBan = "worker \(workerID ?? "?"): \(reason)"
    }

    /// Excludes `route` from `shard` after a NaN/Inf result (it goes to someone else if possible).
    mutating func exclude(route: [UInt8], from shard: Int) { excluded[shard, default: []].insert(route) }

    /// Records a fatal error from a worker about a lease it held.
    mutating func fatalError(from workerID: String) { fatalReporters.insert(workerID) }

    /// The shard of `queue` (front first) to give `route`: one it has not failed with NaN/Inf; an excluded one
    /// only when every live worker is excluded from it (no one else could run it). Never a shard whose audit
    /// holds this worker's own result. Without exclusions or audits: the front, in O(1).
    func pick(_ queue: some Sequence<Int>, for route: [UInt8], workerID: String, live: Set<[UInt8]>) -> Int? {
        if excluded.isEmpty && auditRoutes.isEmpty && auditIDs.isEmpty { return queue.first { _ in true } }
        let open = { (s: Int) in
            !(self.auditRoutes[s]?.contains(route) ?? false) && !(self.auditIDs[s]?.contains(workerID) ?? false)
        }
        return queue.first { open($0) && !(excluded[$0]?.contains(route) ?? false) }
            ?? queue.first { open($0) && live.isSubset(of: excluded[$0] ?? []) }
    }

    /// True when `route` may compute `shard`: it has not failed it with NaN/Inf and holds no audited result of it.
    func mayTake(_ shard: Int, route: [UInt8], workerID: String) -> Bool {
        !(excluded[shard]?.contains(route) ?? false) && !(auditRoutes[shard]?.contains(route) ?? false)
            && !(auditIDs[shard]?.contains(workerID) ?? false)
    }

    /// Shards whose audit holds a result (the only ones `auditBlocked` can be true for).
    var auditedShards: Dictionary<Int, Set<[UInt8]>>.Keys { auditRoutes.keys }

    /// Records that the audit of `shard` holds a result of this worker.
    mutating func auditHeld(shard: Int, route: [UInt8], workerID: String?) {
        auditRoutes[shard, default: []].insert(route)
        if let id = workerID { auditIDs[shard, default: []].insert(id) }
    }

    /// The audit of `shard` is over (confirmed or waived).
    mutating func auditDone(shard: Int) {
        auditRoutes.removeValue(forKey: shard)
        auditIDs.removeValue(forKey: shard)
    }

    /// True when every live worker already has a result held for `shard` (nobody left to confirm it).
    func auditBlocked(_ shard: Int, live: Set<[UInt8]>) -> Bool {
        guard let held = auditRoutes[shard] else { return false }
        return live.isSubset(of: held)
    }

    /// True when no worker is left and at least one was banned: unless a new worker joins, nothing happens.
    func stalled(liveWorkers: Int) -> Bool { liveWorkers == 0 && bannedCount > 0 }

    /// The one-line error of a run that cannot make progress.
    func noProgressMessage(pendingShards: Int) -> String {
        let n = bannedCount
        return "no worker can make progress: \(n) worker\(n == 1 ? " was" : "s were") banned and none is left, "
            + "\(pendingShards) shard\(pendingShards == 1 ? "" : "s") not done (last: \(lastBan ?? "?")); "
            + "the journal is intact — fix the cause and rerun with \(Setting.resume)"
    }
}
