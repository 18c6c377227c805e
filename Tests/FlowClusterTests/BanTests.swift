import FlowProto
import Foundation
import XCTest

@testable import FlowCluster
@testable import FlowFuzz

/// Bans and retirements: by identity, never a shared key; a run with no worker left ends with an error; a
/// squatting or erring peer cannot hold up or stop the run.
final class BanTests: XCTestCase {
    /// One worker key shared by every worker (the README's `worker.key`): banning one worker must not lock the
    /// key out — a worker connecting with the same key afterwards still completes the run.
    func testBanWithSharedKeyDoesNotLockOutOtherWorkers() throws {
        guard CurveKeys.available else { throw XCTSkip("libzmq without CURVE") }
        let d = trustTempDir("shared")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let server = try CurveKeys.generate()
        let shared = try CurveKeys.generate()
        var config = loopbackConfig(d, samples: 32)
        config.curve = CurveServerSecurity(keys: server, allowed: [shared.publicKey])
        let context = try ZMQContext()
        let live = try LiveCoordinator(config, context: context)
        let security = CurveClientSecurity(serverKey: server.publicKey, keys: shared)
        let bad = try peer(live, context, "bad", curve: security)
        bad.hello()
        let deadline = Date().addingTimeInterval(5)
        while !bad.welcomed && Date() < deadline { bad.poll(timeoutMs: 50) }
        XCTAssertTrue(bad.welcomed)
        for i in 0..<config.maxMalformedPerPeer { bad.sendRaw([0xFF, 0x00, UInt8(i), 0x07]) }  // undecodable
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
        let d = trustTempDir("stall")
        defer { try? FileManager.default.removeItem(atPath: d) }
        var config = loopbackConfig(d, samples: 64)
        config.noProgressSeconds = 1
        let context = try ZMQContext()
        let live = try LiveCoordinator(config, context: context)
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
        let d = trustTempDir("squat")
        defer { try? FileManager.default.removeItem(atPath: d) }
        var config = loopbackConfig(d, samples: 32)
        config.backupAfterSeconds = 0.5
        let context = try ZMQContext()
        let live = try LiveCoordinator(config, context: context)
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
        let d = trustTempDir("errors")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let config = loopbackConfig(d, samples: 32)
        let context = try ZMQContext()
        let live = try LiveCoordinator(config, context: context)
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
