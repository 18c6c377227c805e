import FlowProto
import Foundation
import XCTest

@testable import FlowCluster

/// The scheduler's lease policy without sockets: expiry on an injected clock, re-queues, the in-flight limit,
/// backup leases and duplicate commits.
final class SchedulerLeaseTests: XCTestCase {
    typealias D = SchedulerDriver

    /// A lease is re-queued once it is older than `leaseSeconds` although its holder keeps heartbeating — not a
    /// moment earlier — and the next request gets the shard again under a new lease id.
    func testLeaseExpiresAfterLeaseSecondsOnTheInjectedClock() {
        var limits = SchedulerLimits()
        limits.leaseSeconds = 10
        var d = D(shards: 2, limits: limits)
        XCTAssertEqual(d.hello("a"), [.welcome(D.route("a"))])
        let first = D.leases(d.request("a"))
        XCTAssertEqual(first.map(\.shard), [0])
        XCTAssertEqual(first.map(\.lease), [1])
        for _ in 1...10 {
            d.advance(1)
            XCTAssertEqual(d.heartbeat("a"), [])
            let actions = d.tick()
            XCTAssertTrue(actions.contains(.heartbeat(D.route("a"))))
            XCTAssertEqual(d.holder(0), "a", "re-queued before its deadline")
        }
        d.advance(1)
        _ = d.heartbeat("a")
        _ = d.tick()
        XCTAssertNil(d.holder(0), "an overdue lease must go back to the queue")
        XCTAssertEqual(d.scheduler.queue.first, 0, "a re-queued shard goes to the front")
        XCTAssertEqual(d.scheduler.summary.requeues, 1)
        let again = D.leases(d.request("a"))
        XCTAssertEqual(again.map(\.shard), [0])
        XCTAssertEqual(again.map(\.lease), [2])
    }

    /// A peer silent for `liveness` heartbeat intervals is dropped and its shard goes at once to a parked peer.
    func testSilentPeerExpiresAndItsShardGoesToAnIdlePeer() {
        var d = D(shards: 1)
        _ = d.hello("a")
        _ = d.hello("b")
        XCTAssertEqual(D.leases(d.request("a")).map(\.shard), [0])
        XCTAssertTrue(D.leases(d.request("b")).isEmpty, "nothing left for b: it is parked")
        XCTAssertEqual(d.scheduler.peers[D.route("b")]?.idle, true)
        for _ in 1...3 {
            d.advance(1)
            _ = d.heartbeat("b")
            XCTAssertTrue(D.leases(d.tick()).isEmpty, "a is not dead before 3 silent intervals")
        }
        d.advance(1)
        _ = d.heartbeat("b")
        let actions = d.tick()
        XCTAssertEqual(D.leases(actions).map(\.holder), ["b"])
        XCTAssertEqual(D.leases(actions).map(\.shard), [0])
        XCTAssertEqual(d.scheduler.peers[D.route("a")]?.live, false)
        XCTAssertEqual(d.holder(0), "b")
        // The dead peer's next message is answered with "say hello", not a lease.
        XCTAssertEqual(d.request("a"), [.askHello(D.route("a"))])
    }

    /// An error about a lease the sender holds re-queues it; errors about other shards or stale leases change
    /// nothing; eight such errors retire the worker.
    func testErrorsRequeueOnlyTheSendersLeaseAndRetireARepeatOffender() {
        var d = D(shards: 2)
        _ = d.hello("a")
        XCTAssertEqual(D.leases(d.request("a")).map(\.lease), [1])
        XCTAssertEqual(d.error("a", shard: 1, lease: 1), [], "a does not hold shard 1")
        XCTAssertEqual(d.error("a", shard: 0, lease: 7), [], "lease 7 is not a's lease of shard 0")
        XCTAssertEqual(d.scheduler.summary.ignoredErrors, 2)
        XCTAssertEqual(d.holder(0), "a")
        XCTAssertEqual(d.error("z", shard: 0, lease: 1), [.askHello(D.route("z"))], "an unknown peer is asked to hello")
        XCTAssertEqual(d.holder(0), "a")
        _ = d.error("a", shard: 0, lease: 1)
        XCTAssertNil(d.holder(0))
        XCTAssertEqual(d.scheduler.summary.requeues, 1)
        for i in 2...WorkerPolicy.maxLeaseErrors {
            let lease = D.leases(d.request("a"))
            XCTAssertEqual(lease.map(\.shard), [0])
            let actions = d.error("a", shard: 0, lease: lease[0].lease)
            XCTAssertEqual(D.refused(actions), i == WorkerPolicy.maxLeaseErrors ? ["a"] : [], "error \(i)")
        }
        XCTAssertEqual(d.scheduler.summary.bannedWorkers, 1)
    }

    /// At most `maxInFlightPerWorker` shards per peer; a commit frees a slot and the parked peer gets the next.
    func testInFlightLimitParksThePeerUntilACommit() {
        var d = D(shards: 5)
        _ = d.hello("a")
        XCTAssertEqual(D.leases(d.request("a")).map(\.shard), [0])
        XCTAssertEqual(D.leases(d.request("a")).map(\.shard), [1])
        XCTAssertEqual(d.request("a"), [], "a third shard exceeds the in-flight limit of 2")
        XCTAssertEqual(d.scheduler.inFlight(D.route("a")), 2)
        XCTAssertEqual(d.scheduler.peers[D.route("a")]?.idle, true)
        let actions = d.commit([0])
        XCTAssertEqual(D.leases(actions).map(\.shard), [2], "the commit frees a slot for the parked peer")
        XCTAssertEqual(d.scheduler.inFlight(D.route("a")), 2)
        XCTAssertEqual(d.scheduler.summary.assignments, 3)
    }

    /// A parked peer gets a second (backup) lease of a shard leased longer than `backupAfterSeconds`, once per
    /// shard (a third idle peer gets none); the commit clears it.
    func testBackupLeaseAfterBackupSecondsOncePerShard() {
        var limits = SchedulerLimits()
        limits.backupAfterSeconds = 30
        var d = D(shards: 1, limits: limits)
        _ = d.hello("a")
        _ = d.hello("b")
        _ = d.hello("c")
        let start = d.now
        XCTAssertEqual(D.leases(d.request("a")).map(\.shard), [0])
        XCTAssertEqual(d.request("b"), [])
        XCTAssertEqual(d.request("c"), [])
        var backups: [(shard: Int, lease: UInt64, holder: String, backup: Bool)] = []
        while d.now < start.addingTimeInterval(40) {
            d.advance(1)
            _ = d.heartbeat("a")
            _ = d.heartbeat("b")
            _ = d.heartbeat("c")
            var leases = D.leases(d.tick())
            leases += D.leases(d.request("b")) + D.leases(d.request("c"))
            if !leases.isEmpty {
                XCTAssertGreaterThanOrEqual(d.now.timeIntervalSince(start), 30, "backup before backupAfterSeconds")
            }
            backups += leases
        }
        XCTAssertEqual(backups.count, 1, "one backup per shard")
        XCTAssertTrue(["b", "c"].contains(backups.first?.holder ?? ""))
        XCTAssertEqual(backups.first?.backup, true)
        XCTAssertEqual(d.holder(0), "a", "the first holder keeps its lease")
        XCTAssertEqual(d.scheduler.summary.backupLeases, 1)
        _ = d.commit([0])
        XCTAssertTrue(d.scheduler.allDone)
        XCTAssertTrue(d.scheduler.backups.isEmpty)
    }

    /// Only the first commit notice of a shard is journaled; later ones (backup, retry) are counted duplicates,
    /// and a late NaN/Inf report about a committed shard re-queues nothing.
    func testDuplicateCommitsAreCountedNotJournaled() {
        var d = D(shards: 2)
        _ = d.hello("a")
        _ = d.request("a")
        XCTAssertEqual(d.scheduler.freshCommits([0, 0, 5]), [0], "duplicates and unknown shards are dropped")
        XCTAssertEqual(d.scheduler.summary.duplicateCommits, 1)
        _ = d.scheduler.committed([0], now: d.now)
        XCTAssertEqual(d.scheduler.freshCommits([0]), [])
        XCTAssertEqual(d.scheduler.summary.duplicateCommits, 2)
        XCTAssertEqual(d.nonFinite(shard: 0, lease: 1), [])
        XCTAssertEqual(d.scheduler.summary.nonFiniteShards, 0)
        XCTAssertEqual(d.scheduler.summary.committedThisSession, 1)
        XCTAssertFalse(d.scheduler.allDone)
        _ = d.commit([1])
        XCTAssertTrue(d.scheduler.allDone)
        XCTAssertEqual(d.scheduler.samplesDone, 8)
    }

    /// On resume, committed shards are done and never leased again.
    func testResumedShardsAreNotLeased() {
        var d = D(shards: 3, committed: [0, 2])
        _ = d.hello("a")
        XCTAssertEqual(D.leases(d.request("a")).map(\.shard), [1])
        XCTAssertEqual(d.request("a"), [])
        XCTAssertEqual(d.scheduler.summary.resumedShards, 2)
    }
}
