@testable import FlowCluster
import FlowProto
import Foundation
import XCTest

/// Cluster trust: results count only for the lease they answer, from its holder; errors count only from the
/// holder of the shard; misconfigured workers are refused at hello; bans exclude identities, not shared keys.
final class LeaseTrustTests: XCTestCase {
    func tempDir(_ tag: String) -> String {
        let d = NSTemporaryDirectory() + "lease-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// The fuzz corpus configuration on loopback ports.
    func loopbackConfig(_ dir: String, samples: Int) -> CoordinatorConfig {
        FuzzCorpus.coordinatorConfig(outDir: dir, samples: samples, controlBind: "tcp://127.0.0.1:0",
                                     dataBind: "tcp://127.0.0.1:0")
    }

    func peer(_ live: Live, _ context: ZMQContext, _ id: String, models: [Flowturbo_V1_ModelDigest]? = nil,
              curve: CurveClientSecurity? = nil) throws -> ScriptedPeer {
        try ScriptedPeer(context: context, control: live.control, data: live.data, workerID: id,
                         models: models ?? live.config.models, curve: curve)
    }

    /// Says hello and asks for work until `peer` holds `count` leases (or 5 s pass).
    func acquire(_ peer: ScriptedPeer, _ count: Int) {
        peer.hello()
        let deadline = Date().addingTimeInterval(5)
        while peer.assignments.count < count && Date() < deadline {
            if peer.poll(timeoutMs: 50).isEmpty && peer.welcomed && peer.assignments.isEmpty {
                for _ in 0..<count { peer.requestWork() }
            }
        }
    }

    /// A coordinator running on its own thread.
    final class Live {
        let coordinator: Coordinator
        let config: CoordinatorConfig
        let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var _summary: CoordinatorSummary?
        private var _error: Error?
        var summary: CoordinatorSummary? { locked { _summary } }
        var error: Error? { locked { _error } }
        var control: String { "tcp://127.0.0.1:\(coordinator.controlPort)" }
        var data: String { "tcp://127.0.0.1:\(coordinator.dataPort)" }

        init(_ config: CoordinatorConfig, context: ZMQContext) throws {
            self.config = config
            coordinator = try Coordinator(config: config, context: context)
            Thread { [self] in
                do {
                    let s = try coordinator.run()
                    locked { _summary = s }
                } catch {
                    locked { _error = error }
                }
                done.signal()
            }.start()
        }

        private func locked<T>(_ f: () -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return f()
        }

        /// True once `run()` returned (does not consume the completion signal).
        func finished() -> Bool {
            guard done.wait(timeout: .now()) == .success else { return false }
            done.signal()
            return true
        }
    }

    func testLeaseBookVerdicts() {
        let book = LeaseBook()
        let a = book.issue(shard: 3, holder: [1], key: nil)
        let b = book.issue(shard: 3, holder: [2], key: "K2")
        XCTAssertEqual(a.token.count, 16)
        XCTAssertNotEqual(a.token, b.token, "tokens are random per lease")
        XCTAssertEqual(book.verify(shard: 3, leaseID: a.id, token: Data(a.token), peerKey: nil), .accepted(a))
        XCTAssertEqual(book.verify(shard: 3, leaseID: a.id, token: Data(b.token), peerKey: nil), .wrongToken)
        XCTAssertEqual(book.verify(shard: 3, leaseID: a.id, token: Data(), peerKey: nil), .wrongToken)
        XCTAssertEqual(book.verify(shard: 4, leaseID: a.id, token: Data(a.token), peerKey: nil), .unknownLease,
                       "another shard")
        XCTAssertEqual(book.verify(shard: 3, leaseID: 424242, token: Data(a.token), peerKey: nil), .unknownLease)
        XCTAssertEqual(book.verify(shard: 3, leaseID: b.id, token: Data(b.token), peerKey: "K9"), .wrongPeer)
        XCTAssertEqual(book.verify(shard: 3, leaseID: b.id, token: Data(b.token), peerKey: nil), .wrongPeer)
        XCTAssertEqual(book.verify(shard: 3, leaseID: b.id, token: Data(b.token), peerKey: "K2"), .accepted(b))
        book.revoke(holder: [2])
        XCTAssertEqual(book.verify(shard: 3, leaseID: b.id, token: Data(b.token), peerKey: "K2"), .revoked)
        XCTAssertEqual(book.verify(shard: 3, leaseID: a.id, token: Data(a.token), peerKey: nil), .accepted(a),
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
        let d = tempDir("forge")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let context = try ZMQContext()
        let config = loopbackConfig(d, samples: 64)
        let live = try Live(config, context: context)
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
        let d = tempDir("stolen")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let server = try CurveKeys.generate(), good = try CurveKeys.generate(), other = try CurveKeys.generate()
        var config = loopbackConfig(d, samples: 16)
        config.curve = CurveServerSecurity(keys: server, allowed: [good.publicKey, other.publicKey])
        let context = try ZMQContext()
        let live = try Live(config, context: context)
        let honest = try peer(live, context, "honest",
                              curve: CurveClientSecurity(serverKey: server.publicKey, keys: good))
        let thief = try peer(live, context, "thief",
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
        let d = tempDir("refuse")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let context = try ZMQContext()
        let config = loopbackConfig(d, samples: 32)
        let live = try Live(config, context: context)
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

    /// One worker key shared by every worker (the README's `worker.key`): banning one worker must not lock the
    /// key out — a worker connecting with the same key afterwards still completes the run.
    func testBanWithSharedKeyDoesNotLockOutOtherWorkers() throws {
        guard CurveKeys.available else { throw XCTSkip("libzmq without CURVE") }
        let d = tempDir("shared")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let server = try CurveKeys.generate(), shared = try CurveKeys.generate()
        var config = loopbackConfig(d, samples: 32)
        config.curve = CurveServerSecurity(keys: server, allowed: [shared.publicKey])
        let context = try ZMQContext()
        let live = try Live(config, context: context)
        let security = CurveClientSecurity(serverKey: server.publicKey, keys: shared)
        let bad = try peer(live, context, "bad", curve: security)
        bad.hello()
        let deadline = Date().addingTimeInterval(5)
        while !bad.welcomed && Date() < deadline { bad.poll(timeoutMs: 50) }
        XCTAssertTrue(bad.welcomed)
        for i in 0..<config.maxMalformedPerPeer { bad.sendRaw([0xFF, 0x00, UInt8(i), 0x07]) }   // undecodable
        while bad.shutdown == nil && Date() < deadline { bad.poll(timeoutMs: 50) }
        XCTAssertEqual(bad.shutdown?.refused, true, "the misbehaving worker is banned")
        // Garbage proves nothing about who sent it: the claimed worker id stays admissible.
        let again = try peer(live, context, "bad", curve: security)
        again.hello()
        while !again.welcomed && again.shutdown == nil && Date() < deadline { again.poll(timeoutMs: 50) }
        XCTAssertTrue(again.welcomed, "a malformed-message ban must not ban the worker id")
        again.close()
        // A new connection with the same key and a new worker id is admitted and finishes the run.
        let good = try peer(live, context, "good", curve: security)
        let completed = good.serve(evalSet: config.evalSet, seconds: 20) { live.finished() }
        XCTAssertTrue(completed, "the shared key was locked out")
        XCTAssertEqual(live.summary?.completed, true)
        XCTAssertEqual(live.summary?.bannedWorkers, 1)
        bad.close()
        good.close()
    }

    /// Every worker banned (NaN results) and none left: the run ends with one clear error instead of waiting forever.
    func testAllWorkersBannedEndsRunWithError() throws {
        let d = tempDir("stall")
        defer { try? FileManager.default.removeItem(atPath: d) }
        var config = loopbackConfig(d, samples: 64)
        config.noProgressSeconds = 1
        let context = try ZMQContext()
        let live = try Live(config, context: context)
        let nan = try peer(live, context, "nan")
        nan.hello()
        let started = Date()
        var answered = Set<UInt64>()
        while nan.shutdown == nil && Date().timeIntervalSince(started) < 10 {
            for a in nan.poll(timeoutMs: 20) where answered.insert(a.leaseID).inserted {
                var r = nan.answer(a, evalSet: config.evalSet)
                var floats = [Float](repeating: 1, count: r.latents.count / 4)
                floats[0] = .nan
                r.latents = floats.withUnsafeBytes { Data($0) }
                nan.pushResult(r)
                nan.requestWork()
            }
            if nan.welcomed && nan.assignments.isEmpty && answered.isEmpty { nan.requestWork() }
            nan.heartbeat()
        }
        XCTAssertEqual(nan.shutdown?.refused, true, "3 NaN results ban the worker")
        // The banned worker id cannot come back on a new connection.
        let back = try peer(live, context, "nan")
        back.hello()
        let deadline = Date().addingTimeInterval(3)
        while back.shutdown == nil && !back.welcomed && Date() < deadline { back.poll(timeoutMs: 20) }
        XCTAssertFalse(back.welcomed)
        XCTAssertTrue(back.shutdown?.reason.contains("banned") ?? false, back.shutdown?.reason ?? "no Shutdown")
        back.close()
        XCTAssertEqual(live.done.wait(timeout: .now() + 10), .success, "the run waited forever with no worker left")
        let message = "\(live.error.map { "\($0)" } ?? "no error")"
        XCTAssertTrue(message.contains("no worker can make progress") && message.contains("NaN"), message)
        XCTAssertFalse(message.contains("\n"), "one line: \(message)")
        let journal = try Journal.read(d + "/journal.log")
        XCTAssertEqual(journal.validLength, journal.fileLength, "journal intact")
        nan.close()
    }

    /// A peer that takes leases and sits on them (heartbeating, never answering) cannot hold up the run until
    /// the lease deadline: idle workers get backup leases of its shards and the first result wins.
    func testSquattingPeerCannotHoldUpTheRun() throws {
        let d = tempDir("squat")
        defer { try? FileManager.default.removeItem(atPath: d) }
        var config = loopbackConfig(d, samples: 32)
        config.backupAfterSeconds = 0.5
        let context = try ZMQContext()
        let live = try Live(config, context: context)
        let squatter = try peer(live, context, "squatter")
        acquire(squatter, 2)
        XCTAssertEqual(squatter.assignments.count, 2)
        let honest = try peer(live, context, "honest")
        let completed = honest.serve(evalSet: config.evalSet, seconds: 15) {
            squatter.poll(timeoutMs: 0)
            squatter.heartbeat()
            return live.finished()
        }
        XCTAssertTrue(completed, "the squatter held the run up")
        XCTAssertEqual(live.summary?.completed, true)
        XCTAssertGreaterThanOrEqual(live.summary?.backupLeases ?? 0, 2)
        XCTAssertEqual(FuzzLeases.poisonedShards(dir: d, evalSet: config.evalSet).checked, 4)
        squatter.close()
        honest.close()
    }

    /// A peer that keeps taking leases and answering them with (non-fatal) errors is retired after a few; it
    /// cannot stop the run by piling up errors (it used to, at 3 errors per shard).
    func testRepeatedLeaseErrorsRetireTheWorkerNotTheRun() throws {
        let d = tempDir("errors")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let config = loopbackConfig(d, samples: 32)
        let context = try ZMQContext()
        let live = try Live(config, context: context)
        let nagger = try peer(live, context, "nagger")
        nagger.hello()
        let deadline = Date().addingTimeInterval(10)
        var errors = 0
        while nagger.shutdown == nil && errors < 20 && Date() < deadline && !live.finished() {
            for a in nagger.poll(timeoutMs: 20) {
                nagger.send {
                    $0.error.shardID = a.shardID
                    $0.error.leaseID = a.leaseID
                    $0.error.message = "cannot right now"
                }
                errors += 1
                nagger.requestWork()
            }
            if nagger.welcomed && nagger.assignments.isEmpty { nagger.requestWork() }
        }
        XCTAssertEqual(nagger.shutdown?.refused, true, "retired after \(errors) errors")
        XCTAssertFalse(live.finished(), "errors of one worker stopped the run: \(String(describing: live.error))")
        let honest = try peer(live, context, "honest")
        XCTAssertTrue(honest.serve(evalSet: config.evalSet, seconds: 15) { live.finished() })
        XCTAssertEqual(live.summary?.completed, true)
        nagger.close()
        honest.close()
    }
}
