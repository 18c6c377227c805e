import FlowProto
import Foundation
import XCTest

@testable import FlowCluster

/// A scheduler driven by hand: a fake clock, named peers, and helpers that send one event and return its
/// actions. No sockets, no threads.
struct SchedulerDriver {
    var scheduler: Scheduler
    /// The injected clock: every event carries `now`.
    var now = Date(timeIntervalSince1970: 1_000_000)

    /// `shards` shards of 4 samples each, all owned.
    init(shards: Int, limits: SchedulerLimits = SchedulerLimits(), committed: Set<Int> = []) {
        let ranges = (0..<shards).map { $0 * 4..<($0 + 1) * 4 }
        scheduler = Scheduler(
            shards: ranges, owned: Array(repeating: true, count: shards), committed: committed,
            limits: limits)
    }

    static func route(_ name: String) -> [UInt8] { Array(name.utf8) }

    mutating func advance(_ seconds: Double) { now = now.addingTimeInterval(seconds) }

    mutating func send(_ name: String, _ body: Flowturbo_V1_Envelope.OneOf_Body) -> [SchedulerAction] {
        scheduler.received(.message(body), from: Self.route(name), key: nil, now: now)
    }

    mutating func hello(_ name: String, workerID: String? = nil) -> [SchedulerAction] {
        var h = Flowturbo_V1_WorkerHello()
        h.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
        h.workerID = workerID ?? name
        return send(name, .hello(h))
    }

    mutating func request(_ name: String) -> [SchedulerAction] { send(name, .workRequest(Flowturbo_V1_WorkRequest())) }

    mutating func heartbeat(_ name: String) -> [SchedulerAction] { send(name, .heartbeat(Flowturbo_V1_Heartbeat())) }

    mutating func error(_ name: String, shard: Int, lease: UInt64, fatal: Bool = false) -> [SchedulerAction] {
        var e = Flowturbo_V1_Error()
        e.shardID = UInt64(shard)
        e.leaseID = lease
        e.fatal = fatal
        e.message = "boom"
        return send(name, .error(e))
    }

    mutating func garbage(_ name: String) -> [SchedulerAction] {
        scheduler.received(.undecodable, from: Self.route(name), key: nil, now: now)
    }

    mutating func tick() -> [SchedulerAction] { scheduler.tick(now: now) }

    /// The aggregator refused a result of lease `lease` for NaN/Inf latents.
    mutating func nonFinite(shard: Int, lease: UInt64) -> [SchedulerAction] {
        var e = Flowturbo_V1_Error()
        e.shardID = UInt64(shard)
        e.leaseID = lease
        e.message = "NaN"
        return scheduler.nonFiniteResult(e, now: now)
    }

    /// The aggregator durably wrote these shards (duplicates included) and the journal took the fresh ones.
    mutating func commit(_ shards: [Int]) -> [SchedulerAction] {
        scheduler.committed(scheduler.freshCommits(shards), now: now)
    }

    /// The leases among `actions`: (shard, lease id, holder name, backup).
    static func leases(_ actions: [SchedulerAction]) -> [(shard: Int, lease: UInt64, holder: String, backup: Bool)] {
        actions.compactMap {
            guard case .lease(let s, let id, let holder, let backup) = $0 else { return nil }
            return (s, id, String(decoding: holder, as: UTF8.self), backup)
        }
    }

    /// Names of the peers told to shut down with `refused` among `actions`.
    static func refused(_ actions: [SchedulerAction]) -> [String] {
        actions.compactMap {
            guard case .shutdown(let id, _, true) = $0 else { return nil }
            return String(decoding: id, as: UTF8.self)
        }
    }

    /// Holder name of a leased shard, nil if the shard is not leased.
    func holder(_ shard: Int) -> String? {
        guard case .leased(let h, _, _) = scheduler.state[shard] else { return nil }
        return String(decoding: h, as: UTF8.self)
    }
}
