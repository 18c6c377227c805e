import FlowProto
import Foundation
import XCTest

@testable import FlowCluster

/// The scheduler keeps counts and sets incrementally (done shards and samples, owned shards left, leases per
/// holder, live and idle peers, the queue's members, the median shard time). These tests drive it with seeded
/// random event sequences and, after every event, compare each with the naive recomputation from `state` and
/// `peers` — the formulas the scheduler used before it kept them — and check the queue and the median against
/// plain arrays.
final class SchedulerCounterTests: XCTestCase {
    typealias D = SchedulerDriver

    /// SplitMix64: a seeded generator, so a failure names a sequence that can be replayed.
    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func testIncrementalCountsMatchNaiveRecomputationAfterEveryEvent() {
        for seed in 1...60 { drive(seed: UInt64(seed), events: 300) }
    }

    /// The queue against an array: push to the front, remove anywhere, take the first match (as a lease does).
    func testShardQueueMatchesAnArray() {
        for seed in 1...50 {
            var rng = SeededRandom(state: UInt64(seed))
            let n = Int.random(in: 1...40, using: &rng)
            let start = (0..<n).filter { _ in Bool.random(using: &rng) }
            var q = ShardQueue(shardCount: n, front: start)
            var model = start
            for _ in 0..<400 {
                let s = Int.random(in: 0..<n, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0:
                    model.removeAll { $0 == s }
                    model.insert(s, at: 0)
                    q.pushFront(s)
                case 1:
                    model.removeAll { $0 == s }
                    q.remove(s)
                default:
                    let m = Int.random(in: 1...3, using: &rng)
                    let pick = model.first { $0 % m == 0 }
                    XCTAssertEqual(q.first { $0 % m == 0 }, pick, "seed \(seed)")
                    if let p = pick {
                        model.removeAll { $0 == p }
                        q.remove(p)
                    }
                }
                XCTAssertEqual(Array(q), model, "seed \(seed)")
                XCTAssertEqual(q.count, model.count)
                XCTAssertEqual(q.first, model.first)
                XCTAssertEqual((0..<n).filter { q.contains($0) }, model.sorted())
                let some = (0..<n).filter { _ in Bool.random(using: &rng) }
                XCTAssertEqual(q.frontFirst(some), model.filter { some.contains($0) })
            }
        }
    }

    /// The running median against sorting every time (`sorted[count / 2]`), with ties and negative values.
    func testRunningMedianMatchesSorting() {
        var rng = SeededRandom(state: 7)
        var m = RunningMedian()
        var all: [Double] = []
        XCTAssertNil(m.median)
        for _ in 0..<500 {
            let x = Bool.random(using: &rng) ? Double(Int.random(in: -3...3, using: &rng)) : Double.random(in: -5...5)
            m.add(x)
            all.append(x)
            XCTAssertEqual(m.median, all.sorted()[all.count / 2])
            XCTAssertEqual(m.count, all.count)
        }
    }

    /// One random sequence: hellos (some refused), work requests, heartbeats, errors, garbage, ticks after random
    /// delays, commits (fresh, duplicate, of pending or out-of-range shards), NaN/Inf results and audit checks.
    func drive(seed: UInt64, events: Int) {
        var rng = SeededRandom(state: seed)
        var limits = SchedulerLimits()
        limits.leaseSeconds = 8
        limits.maxMalformedPerPeer = 3
        limits.maxNonFiniteResultsPerWorker = 2
        limits.backupAfterSeconds = 2
        limits.noProgressSeconds = 5
        let n = Int.random(in: 1...24, using: &rng)
        var first = 0
        let ranges = (0..<n).map { _ in
            let c = Int.random(in: 1...5, using: &rng)
            defer { first += c }
            return first..<first + c
        }
        let owned = (0..<n).map { _ in Int.random(in: 0..<5, using: &rng) > 0 }
        let committed = Set((0..<n).filter { owned[$0] && Int.random(in: 0..<4, using: &rng) == 0 })
        var d = D(shards: 1, limits: limits)
        d.scheduler = Scheduler(shards: ranges, owned: owned, committed: committed, limits: limits)
        let names = (0..<6).map { "p\($0)" }
        check(d.scheduler, seed: seed, step: -1)
        for step in 0..<events {
            let before = (live: d.scheduler.liveRoutes, changes: d.scheduler.liveChanges)
            let name = names.randomElement(using: &rng)!
            let route = D.route(name)
            let leased = leasedShards(d.scheduler)
            switch Int.random(in: 0..<12, using: &rng) {
            case 0, 1:
                var h = Flowturbo_V1_WorkerHello()
                let current = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
                h.protocolVersion = Int.random(in: 0..<10, using: &rng) == 0 ? current + 1 : current
                h.workerID = Bool.random(using: &rng) ? name : "w\(Int.random(in: 0..<4, using: &rng))"
                _ = d.send(name, .hello(h))
            case 2, 3:
                _ = d.request(name)
            case 4:
                _ = d.heartbeat(name)
            case 5:
                let mine = leased.filter { $0.holder == route }
                let (s, lease) = mine.randomElement(using: &rng).map { ($0.shard, $0.lease) } ?? (n, 0)
                _ = d.error(
                    name, shard: s, lease: Bool.random(using: &rng) ? lease : 0,
                    fatal: Int.random(in: 0..<5, using: &rng) == 0)
            case 6:
                if Bool.random(using: &rng) {
                    _ = d.garbage(name)
                } else {
                    _ = d.scheduler.received(.oversized, from: route, key: "k", now: d.now)
                }
            case 7, 8:
                d.advance(Double.random(in: 0...3, using: &rng))
                _ = d.tick()
            case 9:
                var ids = leased.shuffled(using: &rng).prefix(Int.random(in: 0...3, using: &rng)).map(\.shard)
                if Bool.random(using: &rng) { ids.append(Int.random(in: -1...n, using: &rng)) }
                if let s = ids.first, Bool.random(using: &rng) { ids.append(s) }
                _ = d.commit(ids)
            case 10:
                guard d.scheduler.nextLease > 1 else { continue }
                let id = UInt64.random(in: 1..<d.scheduler.nextLease, using: &rng)
                let s = d.scheduler.lease(id)!.shard
                _ = d.nonFinite(shard: Bool.random(using: &rng) ? s : (s + 1) % n, lease: id)
            default:
                var audit: [AuditBook.Event] = []
                if let l = leased.randomElement(using: &rng) { audit.append(.held(shard: l.shard, holder: l.holder)) }
                if Int.random(in: 0..<4, using: &rng) == 0 {
                    audit.append(.liars(shard: Int.random(in: 0..<n, using: &rng), holders: [route]))
                }
                let candidates = Int.random(in: 0...3, using: &rng)
                let view = AuditView(events: audit) { _ in candidates == 0 ? nil : candidates }
                d.advance(Double.random(in: 0...2, using: &rng))
                _ = d.scheduler.checks(now: d.now, audit: view)
            }
            check(d.scheduler, seed: seed, step: step)
            if d.scheduler.liveRoutes != before.live {
                XCTAssertNotEqual(
                    d.scheduler.liveChanges, before.changes, "seed \(seed) step \(step): live set changed")
            }
        }
    }

    /// (shard, lease id, holder) of every leased shard, read from `state`.
    func leasedShards(_ s: Scheduler) -> [(shard: Int, lease: UInt64, holder: [UInt8])] {
        s.state.indices.compactMap { i in
            guard case .leased(let h, let l, _) = s.state[i] else { return nil }
            return (i, l, h)
        }
    }

    /// Every incremental count and set against its naive recomputation (the old formulas).
    func check(_ s: Scheduler, seed: UInt64, step: Int) {
        let at = "seed \(seed) step \(step)"
        XCTAssertEqual(s.doneCount, s.state.reduce(0) { $1 == .done ? $0 + 1 : $0 }, at)
        XCTAssertEqual(s.samplesDone, zip(s.state, s.shards).reduce(0) { $0 + ($1.0 == .done ? $1.1.count : 0) }, at)
        XCTAssertEqual(s.samplesOwned, zip(s.shards, s.owned).reduce(0) { $0 + ($1.1 ? $1.0.count : 0) }, at)
        XCTAssertEqual(s.allDone, zip(s.state, s.owned).allSatisfy { $0 == .done || !$1 }, at)
        XCTAssertEqual(s.ownedLeft, zip(s.state, s.owned).filter { $0 != .done && $1 }.count, at)
        XCTAssertEqual(s.liveRoutes, Set(s.peers.filter { $0.value.live }.keys), at)
        XCTAssertEqual(s.idleRoutes, Set(s.peers.filter { $0.value.live && $0.value.idle }.keys), at)
        let holders = Set(leasedShards(s).map(\.holder))
        XCTAssertEqual(Set(s.held.keys), holders, at)
        for route in holders.union(s.peers.keys) {
            let naive = s.state.reduce(0) {
                if case .leased(let h, _, _) = $1, h == route { return $0 + 1 } else { return $0 }
            }
            XCTAssertEqual(s.inFlight(route), naive, at)
        }
        let queued = Array(s.queue)
        XCTAssertEqual(queued.count, Set(queued).count, "\(at): a shard is queued twice")
        XCTAssertEqual(queued.count, s.queue.count, at)
        let pendingOwned = s.state.indices.filter { s.state[$0] == .pending && s.owned[$0] }
        XCTAssertEqual(queued.sorted(), pendingOwned, "\(at): the queue must hold exactly the owned pending shards")
    }
}
