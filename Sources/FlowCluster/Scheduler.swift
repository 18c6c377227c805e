import FlowProto
import Foundation

/// The coordinator's policy as a pure state machine (swift-nio's `…StateMachine` pattern): shard states,
/// the queue, leases, re-queues, the in-flight limit, expiry, bans, NaN/Inf re-runs, backup leases, audits and
/// the no-progress rule, driven by one `mutating func` per event. Every event carries `now` (the scheduler never
/// reads a clock) and returns the `SchedulerAction`s the I/O shell (`Coordinator`) performs in order.
///
/// Per-event work is O(1) in the number of shards and peers (apart from what the event itself names, e.g. the shards
/// of a banned peer): shard states and peers change only through `setState` and `updatePeer`, which keep the counts
/// (done shards and samples, owned shards left, leases per holder) and the live and idle peer sets up to date; only
/// the heartbeat tick walks every peer, once per interval.
struct Scheduler {
    // The state below is read by the shell (`Coordinator`) and the extensions in SchedulerLeases/Control/Health;
    // shard states, the queue and peers change only through the mutators in this file, which keep the counts.
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
    /// Owned shards and their samples (the whole set, or its part's shards).
    let ownedCount: Int
    let samplesOwned: Int
    private(set) var state: [ShardState]
    /// Pending owned shards, front first.
    private(set) var queue: ShardQueue
    /// Every control connection seen, by routing identity.
    private(set) var peers: [[UInt8]: Peer] = [:]
    /// Shards in state `.done`, their samples, and owned shards not done.
    private(set) var doneCount = 0
    private(set) var samplesDone = 0
    private(set) var ownedLeft = 0
    /// Shards leased to each holder (no entry: none).
    private(set) var held: [[UInt8]: Set<Int>] = [:]
    /// Routing identities of the admitted peers, and of those among them waiting for work.
    private(set) var liveRoutes: Set<[UInt8]> = []
    private(set) var idleRoutes: Set<[UInt8]> = []
    /// Bumped whenever `liveRoutes` changes (the shell's log compares it instead of the sets).
    private(set) var liveChanges = 0
    var policy: WorkerPolicy
    /// Second leases of shards whose holder takes too long (shard → backup holder).
    var backups: [Int: [UInt8]] = [:]
    /// Shard and holder of every lease issued (to name the worker behind a NaN/Inf result).
    var leaseOf: [UInt64: (shard: Int, holder: [UInt8])] = [:]
    var nextLease: UInt64 = 1
    /// How long committed shards took from lease to commit (the backup threshold's median).
    var shardSeconds = RunningMedian()
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
        queue = ShardQueue(
            shardCount: shards.count, front: shards.indices.filter { owned[$0] && !committed.contains($0) })
        ownedCount = owned.filter { $0 }.count
        samplesOwned = zip(shards, owned).reduce(0) { $0 + ($1.1 ? $1.0.count : 0) }
        for s in shards.indices where state[s] == .done {
            doneCount += 1
            samplesDone += shards[s].count
        }
        ownedLeft = shards.indices.filter { owned[$0] && state[$0] != .done }.count
        summary.shards = ownedCount
        summary.resumedShards = committed.count
    }

    var allDone: Bool { ownedLeft == 0 }

    var bannedCount: Int { policy.bannedCount }

    /// The error text when no worker is left to make progress.
    var noProgressMessage: String { policy.noProgressMessage(pendingShards: ownedCount - doneCount) }

    /// Shards leased to `route` (its in-flight count).
    func inFlight(_ route: [UInt8]) -> Int { held[route]?.count ?? 0 }

    /// Sets shard `s`'s state, keeping the done counts and the leases per holder.
    mutating func setState(_ s: Int, _ new: ShardState) {
        let old = state[s]
        if case .leased(let h, _, _) = old {
            held[h]?.remove(s)
            if held[h]?.isEmpty == true { held[h] = nil }
        }
        if case .leased(let h, _, _) = new { held[h, default: []].insert(s) }
        if old != .done && new == .done {
            doneCount += 1
            samplesDone += shards[s].count
            if owned[s] { ownedLeft -= 1 }
        } else if old == .done && new != .done {
            doneCount -= 1
            samplesDone -= shards[s].count
            if owned[s] { ownedLeft += 1 }
        }
        state[s] = new
    }

    /// Changes (or creates) the record of `route`, keeping the live and idle sets.
    mutating func updatePeer(_ route: [UInt8], _ change: (inout Peer) -> Void) {
        let wasLive = peers[route]?.live == true
        let wasIdle = wasLive && peers[route]?.idle == true
        change(&peers[route, default: Peer()])
        let isLive = peers[route]!.live
        let isIdle = isLive && peers[route]!.idle
        if isLive != wasLive {
            if isLive { liveRoutes.insert(route) } else { liveRoutes.remove(route) }
            liveChanges += 1
        }
        if isIdle != wasIdle {
            if isIdle { idleRoutes.insert(route) } else { idleRoutes.remove(route) }
        }
    }

    /// Records a control message of admitted peer `route` (its liveness clock; the peer sets do not change).
    mutating func touch(_ route: [UInt8], now: Date) { peers[route]?.lastSeen = now }

    /// Queues pending shard `s` at the front.
    mutating func queueFront(_ s: Int) { queue.pushFront(s) }

    /// Takes shard `s` out of the queue (leased or committed).
    mutating func dequeue(_ s: Int) { queue.remove(s) }
}
