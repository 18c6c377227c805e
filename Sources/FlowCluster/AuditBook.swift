import Foundation

/// Audits: a chosen fraction of shards must be computed by two different workers with byte-identical latents
/// before they are written (sampling is bit-reproducible, so honest workers always agree).
///
/// Shared by the aggregator (which offers each verified result of an audited shard) and the coordinator (which
/// re-leases held shards to another worker and bans liars). The first result of an audited shard is held in
/// memory; a result from another worker with the same bytes confirms it and is committed. Different bytes are a
/// conflict: a third worker decides, and the workers whose bytes lost are reported as liars. Which shards are
/// audited is drawn from the system CSPRNG at start, and an audit lease looks like any other, so a worker cannot
/// tell when it is checked.
public final class AuditBook {
    /// What the aggregator does with an offered result.
    public enum Decision: Equatable {
        /// Not audited, confirmed by another worker, or waived: write and commit it.
        case commit
        /// Held (first result, or a conflicting one): wait for another worker.
        case hold
    }

    /// What the coordinator must act on.
    public enum Event: Equatable {
        /// A result of `shard` from `holder` is held; lease the shard to a worker that has not computed it.
        case held(shard: Int, holder: [UInt8])
        /// `shard` was confirmed; the holders whose bytes differed lied (or their hardware did).
        case liars(shard: Int, holders: [[UInt8]])
    }

    private struct Candidate {
        let holder: [UInt8]
        let worker: String
        let latents: Data
    }

    private let lock = NSLock()
    private var pending: Set<Int>
    private var candidates: [Int: [Candidate]] = [:]
    private var events: [Event] = []
    /// Shards drawn for audit at start.
    public let selected: Int
    private var confirmedCount = 0, conflictCount = 0

    /// Draws each shard of `shards` (not yet committed) with probability `fraction`.
    public init(shards: [Int], fraction: Double) {
        var rng = SystemRandomNumberGenerator()
        let chosen =
            fraction <= 0
            ? []
            : shards.filter { _ in
                fraction >= 1 || Double.random(in: 0..<1, using: &rng) < fraction
            }
        pending = Set(chosen)
        selected = chosen.count
    }

    private func locked<T>(_ f: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return f()
    }

    /// Audited shards confirmed by two workers, and conflicts seen (different bytes for one shard).
    public var counts: (confirmed: Int, conflicts: Int) { locked { (confirmedCount, conflictCount) } }

    /// True while `shard` still needs a confirmation.
    public func isPending(_ shard: Int) -> Bool { locked { pending.contains(shard) } }

    /// Results held for `shard`.
    public func candidateCount(_ shard: Int) -> Int { locked { candidates[shard]?.count ?? 0 } }

    /// Aggregator: a verified, well-formed, finite result of `shard` from the lease holder `holder`.
    public func offer(shard: Int, holder: [UInt8], worker: String, latents: Data) -> Decision {
        locked {
            guard pending.contains(shard) else { return .commit }
            let held = candidates[shard] ?? []
            let other = { (c: Candidate) in c.holder != holder && c.worker != worker }
            if held.contains(where: { other($0) && $0.latents == latents }) {
                pending.remove(shard)
                candidates[shard] = nil
                confirmedCount += 1
                let liars = held.filter { $0.latents != latents }.map(\.holder)
                if !liars.isEmpty { events.append(.liars(shard: shard, holders: liars)) }
                return .commit
            }
            // The same worker again adds nothing (it would only agree with itself).
            guard held.allSatisfy(other) else { return .hold }
            if !held.isEmpty { conflictCount += 1 }
            candidates[shard] = held + [Candidate(holder: holder, worker: worker, latents: latents)]
            events.append(.held(shard: shard, holder: holder))
            return .hold
        }
    }

    /// Coordinator: no other worker can confirm `shard`; its next result is committed as it is.
    public func waive(_ shard: Int) {
        locked {
            pending.remove(shard)
            candidates[shard] = nil
        }
    }

    /// Coordinator: events since the last call.
    public func drainEvents() -> [Event] {
        locked {
            defer { events = [] }
            return events
        }
    }
}
