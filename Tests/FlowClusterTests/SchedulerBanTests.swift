import FlowProto
import Foundation
import XCTest

@testable import FlowCluster

/// The scheduler's trust policy without sockets: NaN/Inf re-runs and their limit, bans by identity, malformed
/// messages, admission, audits and the no-progress rule.
final class SchedulerBanTests: XCTestCase {
    typealias D = SchedulerDriver

    /// A NaN/Inf result re-queues the shard for another worker; the worker that failed it gets other shards;
    /// its `maxNonFiniteResultsPerWorker`-th such result bans it (and revokes its leases).
    func testNonFiniteResultsRerunElsewhereAndBanAtTheLimit() {
        var d = D(shards: 6)
        _ = d.hello("a")
        _ = d.hello("b")
        XCTAssertEqual(D.leases(d.request("a")).map(\.shard), [0])
        XCTAssertEqual(D.refused(d.nonFinite(shard: 0, lease: 1)), [])
        XCTAssertNil(d.holder(0), "a NaN/Inf shard is re-queued")
        XCTAssertEqual(d.scheduler.queue.first, 0)
        XCTAssertEqual(D.leases(d.request("a")).map(\.shard), [1], "a must not get back the shard it failed")
        XCTAssertEqual(D.leases(d.request("b")).map(\.shard), [0], "the re-run goes to another worker")
        XCTAssertEqual(D.refused(d.nonFinite(shard: 1, lease: 2)), [])
        let third = D.leases(d.request("a"))
        XCTAssertEqual(third.map(\.shard), [2])
        let actions = d.nonFinite(shard: 2, lease: third[0].lease)
        XCTAssertEqual(D.refused(actions), ["a"], "the third NaN/Inf result bans the worker")
        XCTAssertTrue(actions.contains(.revoke(D.route("a"))))
        XCTAssertEqual(d.scheduler.summary.nonFiniteShards, 3)
        XCTAssertEqual(d.scheduler.summary.nonFiniteShardIDs, [0, 1, 2])
        XCTAssertEqual(d.heartbeat("a"), [], "a banned peer's messages are dropped")
    }

    /// When the only live worker failed a shard with NaN/Inf, it gets the shard again (nobody else could run it).
    func testExcludedShardGoesBackWhenNoOtherWorkerIsLive() {
        var d = D(shards: 1)
        _ = d.hello("a")
        _ = d.request("a")
        _ = d.nonFinite(shard: 0, lease: 1)
        XCTAssertEqual(D.leases(d.request("a")).map(\.shard), [0])
    }

    /// A fatal error about a held lease bans the routing identity and the worker id: the same id on a new
    /// connection is refused at hello; messages of the banned connection are dropped.
    func testFatalErrorBansRouteAndWorkerID() {
        var d = D(shards: 2)
        _ = d.hello("a")
        _ = d.hello("b")
        _ = d.request("a")
        let actions = d.error("a", shard: 0, lease: 1, fatal: true)
        XCTAssertEqual(D.refused(actions), ["a"])
        XCTAssertEqual(actions.filter { $0 == .revoke(D.route("a")) }.count, 1)
        XCTAssertEqual(d.scheduler.queue.first, 0, "the banned worker's shard is re-queued")
        let dropped = d.scheduler.summary.droppedFrames
        XCTAssertEqual(d.request("a"), [])
        XCTAssertEqual(d.scheduler.summary.droppedFrames, dropped + 1)
        XCTAssertEqual(D.refused(d.hello("a2", workerID: "a")), ["a2"], "a banned worker id is refused")
        XCTAssertEqual(d.scheduler.summary.refusedWorkers, 1)
        XCTAssertEqual(d.hello("c"), [.welcome(D.route("c"))])
        XCTAssertEqual(d.scheduler.bannedCount, 1)
    }

    /// `maxMalformedPerPeer` undecodable messages ban the connection (not before), but not the claimed worker id.
    func testMalformedMessagesBanTheConnectionOnly() {
        var limits = SchedulerLimits()
        limits.maxMalformedPerPeer = 4
        var d = D(shards: 1, limits: limits)
        _ = d.hello("m")
        for i in 1...4 {
            XCTAssertEqual(D.refused(d.garbage("m")), i == 4 ? ["m"] : [], "message \(i)")
        }
        XCTAssertEqual(d.scheduler.summary.droppedFrames, 4)
        XCTAssertEqual(d.scheduler.peers[D.route("m")]?.banned, true)
        XCTAssertEqual(d.hello("m2", workerID: "m"), [.welcome(D.route("m2"))], "garbage proves nothing about the id")
        XCTAssertEqual(d.scheduler.summary.oversizedFrames, 0)
        _ = d.scheduler.received(.oversized, from: D.route("x"), key: nil, now: d.now)
        XCTAssertEqual(d.scheduler.summary.oversizedFrames, 1)
    }

    /// A hello of another protocol version or with other model digests is refused; its leases are re-queued.
    func testRefusedHelloReleasesLeases() {
        var model = Flowturbo_V1_ModelDigest()
        model.role = "generator"
        model.sha256 = "aa"
        var limits = SchedulerLimits()
        limits.models = [model]
        var d = D(shards: 1, limits: limits)
        var h = Flowturbo_V1_WorkerHello()
        h.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
        h.workerID = "a"
        h.models = [model]
        XCTAssertEqual(d.send("a", .hello(h)), [.welcome(D.route("a"))])
        _ = d.request("a")
        XCTAssertEqual(d.holder(0), "a")
        h.models[0].sha256 = "bb"
        XCTAssertEqual(D.refused(d.send("a", .hello(h))), ["a"])
        XCTAssertNil(d.holder(0))
        h.models[0].sha256 = "aa"
        h.protocolVersion += 1
        XCTAssertEqual(D.refused(d.send("b", .hello(h))), ["b"])
        XCTAssertEqual(d.scheduler.summary.refusedWorkers, 2)
    }

    /// No worker left after bans: the run fails after `noProgressSeconds` — at once when two workers reported
    /// fatal errors (the configuration is wrong); a new worker joining resets the wait.
    func testNoProgressRule() {
        var limits = SchedulerLimits()
        limits.noProgressSeconds = 15
        var d = D(shards: 2, limits: limits)
        _ = d.hello("a")
        _ = d.request("a")
        XCTAssertEqual(d.scheduler.checks(now: d.now, audit: nil), [], "a live worker makes progress")
        _ = d.error("a", shard: 0, lease: 1, fatal: true)
        XCTAssertEqual(d.scheduler.checks(now: d.now, audit: nil), [])
        d.advance(14)
        XCTAssertEqual(d.scheduler.checks(now: d.now, audit: nil), [])
        d.advance(1)
        let stop = d.scheduler.checks(now: d.now, audit: nil)
        guard case .fail(let message)? = stop.first else { return XCTFail("no failure after noProgressSeconds") }
        XCTAssertTrue(message.hasPrefix("no worker can make progress: 1 worker was banned"), message)

        var e = D(shards: 2, limits: limits)
        for name in ["a", "b"] {
            _ = e.hello(name)
            let lease = D.leases(e.request(name))
            _ = e.error(name, shard: lease[0].shard, lease: lease[0].lease, fatal: true)
        }
        XCTAssertEqual(e.scheduler.checks(now: e.now, audit: nil).count, 1, "two fatal reporters: no wait")
    }

    /// A held audit result takes the shard from its holder back to the queue; it goes only to another worker.
    /// With nobody else live the audit is waived; liars are banned.
    func testAuditHeldShardGoesToAnotherWorkerAndLiarsAreBanned() {
        var d = D(shards: 2)
        _ = d.hello("a")
        _ = d.hello("b")
        _ = d.request("a")
        let held = AuditView(events: [.held(shard: 0, holder: D.route("a"))]) { $0 == 0 ? 1 : nil }
        _ = d.scheduler.checks(now: d.now, audit: held)
        XCTAssertNil(d.holder(0))
        XCTAssertEqual(D.leases(d.request("a")).map(\.shard), [1], "a must not confirm its own result")
        XCTAssertEqual(D.leases(d.request("b")).map(\.shard), [0])
        let liars = AuditView(events: [.liars(shard: 0, holders: [D.route("a")])]) { _ in nil }
        XCTAssertEqual(D.refused(d.scheduler.checks(now: d.now, audit: liars)), ["a"])

        var w = D(shards: 1)
        _ = w.hello("a")
        _ = w.request("a")
        let alone = AuditView(events: [.held(shard: 0, holder: D.route("a"))]) { $0 == 0 ? 1 : nil }
        let actions = w.scheduler.checks(now: w.now, audit: alone)
        XCTAssertTrue(actions.contains(.waiveAudit(0)), "nobody else can confirm: waive")
    }
}
