import FlowProto
import Foundation
import XCTest

@testable import FlowCluster
@testable import FlowFuzz

/// Cluster trust: results count only for the lease they answer, from its holder; errors count only from the
/// holder of the shard; misconfigured workers are refused at hello.
final class LeaseTrustTests: XCTestCase {
    func testLeaseBookVerdicts() {
        let book = LeaseBook()
        let a = book.issue(shard: 3, holder: [1], key: nil)
        let b = book.issue(shard: 3, holder: [2], key: "K2")
        XCTAssertEqual(a.token.count, 16)
        XCTAssertNotEqual(a.token, b.token, "tokens are random per lease")
        XCTAssertEqual(book.verify(shard: 3, leaseID: a.id, token: Data(a.token), peerKey: nil), .accepted(a))
        XCTAssertEqual(book.verify(shard: 3, leaseID: a.id, token: Data(b.token), peerKey: nil), .wrongToken)
        XCTAssertEqual(book.verify(shard: 3, leaseID: a.id, token: Data(), peerKey: nil), .wrongToken)
        XCTAssertEqual(
            book.verify(shard: 4, leaseID: a.id, token: Data(a.token), peerKey: nil), .unknownLease,
            "another shard")
        XCTAssertEqual(book.verify(shard: 3, leaseID: 424242, token: Data(a.token), peerKey: nil), .unknownLease)
        XCTAssertEqual(book.verify(shard: 3, leaseID: b.id, token: Data(b.token), peerKey: "K9"), .wrongPeer)
        XCTAssertEqual(book.verify(shard: 3, leaseID: b.id, token: Data(b.token), peerKey: nil), .wrongPeer)
        XCTAssertEqual(book.verify(shard: 3, leaseID: b.id, token: Data(b.token), peerKey: "K2"), .accepted(b))
        book.revoke(holder: [2])
        XCTAssertEqual(book.verify(shard: 3, leaseID: b.id, token: Data(b.token), peerKey: "K2"), .revoked)
        XCTAssertEqual(
            book.verify(shard: 3, leaseID: a.id, token: Data(a.token), peerKey: nil), .accepted(a),
            "only that holder's leases")
    }

    /// A zero-filled result with forged credentials for `shard` (guessed lease id, no or wrong token).
    func forged(shard: Int, lease: UInt64, token: Data, evalSet: EvalSet) -> Flowturbo_V1_ShardResult {
        var r = FuzzCorpus.result(shard: shard, evalSet: evalSet, workerID: "attacker")
        r.latents = Data(count: r.latents.count)
        r.leaseID = lease
        r.leaseToken = token
        return r
    }

    /// Without keys: an attacker pushes zero-filled results for every shard under every lease id it can guess
    /// and sends fatal errors about shards it does not hold; an honest peer then completes the run and only
    /// its latents are on disk.
    func testForgedResultsAndForeignFatalErrorsChangeNothing() throws {
        let d = trustTempDir("forge")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let context = try ZMQContext()
        let config = loopbackConfig(d, samples: 64)
        let live = try LiveCoordinator(config, context: context)
        let evalSet = config.evalSet
        let shardCount = 64 / FuzzCorpus.shardSize
        // The honest peer holds two leases first, so the forgeries target shards that really are leased.
        let honest = try peer(live, context, "honest")
        acquire(honest, 2)
        XCTAssertEqual(honest.assignments.count, 2)
        let attacker = try peer(live, context, "attacker")
        attacker.hello()
        for s in 0..<shardCount {
            for lease in Array(UInt64(0)...UInt64(40)) + [424242] {
                attacker.pushResult(forged(shard: s, lease: lease, token: Data(), evalSet: evalSet))
                let zeros = Data(repeating: 0, count: 16)
                attacker.pushResult(forged(shard: s, lease: lease, token: zeros, evalSet: evalSet))
            }
            for lease in [0, UInt64(s + 1)] {
                attacker.send {
                    $0.error.shardID = UInt64(s)
                    $0.error.leaseID = lease
                    $0.error.fatal = true
                    $0.error.message = "stop"
                }
            }
        }
        // The honest peer's own lease ids with a flipped token byte.
        for a in honest.assignments {
            var t = a.leaseToken
            t[0] ^= 1
            attacker.pushResult(forged(shard: Int(a.shardID), lease: a.leaseID, token: t, evalSet: evalSet))
        }
        usleep(300_000)
        XCTAssertFalse(live.finished(), "a foreign fatal error stopped the run: \(String(describing: live.error))")
        for a in honest.assignments { honest.pushResult(honest.answer(a, evalSet: evalSet)) }
        XCTAssertTrue(honest.serve(evalSet: evalSet, seconds: 20) { live.finished() }, "run did not complete")
        XCTAssertNil(live.error)
        let summary = try XCTUnwrap(live.summary)
        XCTAssertTrue(summary.completed)
        XCTAssertEqual(summary.bannedWorkers, 0, "nobody may be banned on forged evidence")
        XCTAssertGreaterThanOrEqual(summary.ignoredErrors, 2 * shardCount)
        XCTAssertGreaterThanOrEqual(summary.aggregator.forged, shardCount * 82)
        let (checked, poisoned) = FuzzLeases.poisonedShards(dir: d, evalSet: evalSet)
        XCTAssertEqual(checked, shardCount)
        XCTAssertEqual(poisoned, [], "forged latents were written")
        honest.close()
        attacker.close()
    }

    /// With CURVE: another allow-listed key that learned a lease's id and token still cannot answer it.
    func testStolenTokenFromAnotherKeyIsRefused() throws {
        guard CurveKeys.available else { throw XCTSkip("libzmq without CURVE") }
        let d = trustTempDir("stolen")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let server = try CurveKeys.generate()
        let good = try CurveKeys.generate()
        let other = try CurveKeys.generate()
        var config = loopbackConfig(d, samples: 16)
        config.curve = CurveServerSecurity(keys: server, allowed: [good.publicKey, other.publicKey])
        let context = try ZMQContext()
        let live = try LiveCoordinator(config, context: context)
        let honest = try peer(
            live, context, "honest",
            curve: CurveClientSecurity(serverKey: server.publicKey, keys: good))
        let thief = try peer(
            live, context, "thief",
            curve: CurveClientSecurity(serverKey: server.publicKey, keys: other))
        acquire(honest, 2)
        XCTAssertEqual(honest.assignments.count, 2)
        for a in honest.assignments {
            let r = forged(shard: Int(a.shardID), lease: a.leaseID, token: a.leaseToken, evalSet: config.evalSet)
            thief.pushResult(r)
        }
        usleep(500_000)
        for a in honest.assignments { honest.pushResult(honest.answer(a, evalSet: config.evalSet)) }
        XCTAssertTrue(honest.serve(evalSet: config.evalSet, seconds: 20) { live.finished() }, "run did not complete")
        XCTAssertEqual(live.summary?.aggregator.forged, 2)
        XCTAssertEqual(FuzzLeases.poisonedShards(dir: d, evalSet: config.evalSet).poisoned, [])
        honest.close()
        thief.close()
    }

    /// A worker holding other models is refused at hello (Shutdown, refused) and gets no lease; a worker that
    /// reports a fatal error about its own lease is retired; the run goes on with the others.
    func testMisconfiguredWorkerRefusedAtHelloAndFatalHolderRetired() throws {
        let d = trustTempDir("refuse")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let context = try ZMQContext()
        let config = loopbackConfig(d, samples: 32)
        let live = try LiveCoordinator(config, context: context)
        var wrong = config.models
        wrong[0].sha256 = String(repeating: "cd", count: 32)
        let misfit = try peer(live, context, "misfit", models: wrong)
        misfit.hello()
        misfit.requestWork()
        let deadline = Date().addingTimeInterval(5)
        while misfit.shutdown == nil && Date() < deadline { misfit.poll(timeoutMs: 50) }
        XCTAssertEqual(misfit.shutdown?.refused, true)
        let why = misfit.shutdown?.reason ?? "no Shutdown"
        XCTAssertTrue(why.contains("digest mismatch"), why)
        XCTAssertEqual(misfit.assignments.count, 0)
        // A holder that cannot run its lease says so (fatal): retired, not the end of the run.
        let quitter = try peer(live, context, "quitter")
        quitter.hello()
        while quitter.assignments.isEmpty && Date() < deadline {
            if quitter.poll(timeoutMs: 50).isEmpty && quitter.welcomed { quitter.requestWork() }
        }
        let a = try XCTUnwrap(quitter.assignments.first)
        quitter.send {
            $0.error.shardID = a.shardID
            $0.error.leaseID = a.leaseID
            $0.error.fatal = true
            $0.error.message = "plan too long"
        }
        while quitter.shutdown == nil && Date() < deadline { quitter.poll(timeoutMs: 50) }
        XCTAssertEqual(quitter.shutdown?.refused, true, "the fatal reporter is retired")
        let honest = try peer(live, context, "honest")
        let completed = honest.serve(evalSet: config.evalSet, seconds: 20) { live.finished() }
        XCTAssertTrue(completed, "run did not complete: \(String(describing: live.error))")
        XCTAssertEqual(live.summary?.completed, true)
        XCTAssertEqual(live.summary?.refusedWorkers, 1)
        XCTAssertEqual(live.summary?.bannedWorkers, 1)
        misfit.close()
        quitter.close()
        honest.close()
    }
}
