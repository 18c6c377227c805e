import FlowProto
import Foundation
import XCTest

@testable import FlowCluster
@testable import FlowFuzz

/// Audits: a shard is written only when two different workers sent the same bytes; a worker whose bytes lose
/// a conflict is banned; a run with a lying worker still ends with only genuine latents.
final class AuditTests: XCTestCase {
    func testAuditBookConfirmsOnlyMatchingBytesFromAnotherWorker() {
        let book = AuditBook(shards: [0, 1, 2], fraction: 1)
        XCTAssertEqual(book.selected, 3)
        let good = Data([1, 2, 3, 4])
        let bad = Data([0, 0, 0, 0])
        XCTAssertEqual(book.offer(shard: 0, holder: [1], worker: "a", latents: good), .hold)
        XCTAssertEqual(book.drainEvents(), [.held(shard: 0, holder: [1])])
        XCTAssertEqual(
            book.offer(shard: 0, holder: [1], worker: "a", latents: good), .hold,
            "a worker cannot confirm itself")
        XCTAssertEqual(book.offer(shard: 0, holder: [9], worker: "a", latents: good), .hold, "nor under another route")
        XCTAssertEqual(book.drainEvents(), [])
        XCTAssertEqual(book.offer(shard: 0, holder: [2], worker: "b", latents: bad), .hold, "a conflict")
        XCTAssertEqual(book.drainEvents(), [.held(shard: 0, holder: [2])])
        XCTAssertEqual(book.offer(shard: 0, holder: [3], worker: "c", latents: good), .commit, "two of three agree")
        XCTAssertEqual(book.drainEvents(), [.liars(shard: 0, holders: [[2]])])
        XCTAssertFalse(book.isPending(0))
        XCTAssertEqual(
            book.offer(shard: 0, holder: [4], worker: "d", latents: bad), .commit,
            "decided shards are not audited again")
        // Plain confirmation, and a waived audit.
        XCTAssertEqual(book.offer(shard: 1, holder: [1], worker: "a", latents: good), .hold)
        XCTAssertEqual(book.offer(shard: 1, holder: [2], worker: "b", latents: good), .commit)
        book.waive(2)
        XCTAssertEqual(book.offer(shard: 2, holder: [1], worker: "a", latents: good), .commit)
        XCTAssertEqual(book.counts.confirmed, 2)
        XCTAssertEqual(book.counts.conflicts, 1)
        XCTAssertEqual(AuditBook(shards: Array(0..<100), fraction: 0).selected, 0)
    }

    /// Two honest peers and a liar (valid leases, zero latents) with every shard audited: the liar is banned at
    /// its first conflict and only genuine latents are written.
    func testLiarIsBannedAndOnlyGenuineLatentsAreWritten() throws {
        let d = NSTemporaryDirectory() + "audit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: d) }
        var config = FuzzCorpus.coordinatorConfig(
            outDir: d, samples: 64, controlBind: "tcp://127.0.0.1:0",
            dataBind: "tcp://127.0.0.1:0")
        config.auditFraction = 1
        let context = try ZMQContext()
        let live = try LiveCoordinator(config, context: context)
        let names = ["liar", "a", "b"]
        let peers = try names.map {
            try ScriptedPeer(
                context: context, control: live.control, data: live.data, workerID: $0,
                models: config.models)
        }
        for p in peers { p.hello() }
        var asked = Set<String>()
        let deadline = Date().addingTimeInterval(30)
        while !live.finished() && Date() < deadline {
            for p in peers where p.shutdown == nil {
                for a in p.poll(timeoutMs: 5) {
                    var r = p.answer(a, evalSet: config.evalSet)
                    if p.workerID == "liar" { r.latents = Data(count: r.latents.count) }
                    p.pushResult(r)
                    p.requestWork()
                }
                if p.welcomed && asked.insert(p.workerID).inserted {
                    p.requestWork()
                    p.requestWork()
                }
                p.heartbeat()
            }
        }
        XCTAssertTrue(live.finished(), "run did not complete: \(String(describing: live.error))")
        let summary = try XCTUnwrap(live.summary)
        XCTAssertEqual(summary.auditSelected, 8)
        XCTAssertEqual(summary.auditConfirmed, 8, "every shard confirmed by two honest workers")
        XCTAssertGreaterThanOrEqual(summary.auditConflicts, 1, "the liar's bytes must have been compared")
        XCTAssertEqual(summary.bannedWorkers, 1)
        XCTAssertEqual(peers[0].shutdown?.refused, true)
        XCTAssertTrue(peers[0].shutdown?.reason.contains("audit") ?? false, peers[0].shutdown?.reason ?? "no Shutdown")
        XCTAssertNil(peers[1].shutdown.flatMap { $0.refused ? $0 : nil }, "honest workers stay")
        let (checked, poisoned) = FuzzLeases.poisonedShards(dir: d, evalSet: config.evalSet)
        XCTAssertEqual(checked, 8)
        XCTAssertEqual(poisoned, [], "a lie was written")
        for p in peers { p.close() }
    }
}
