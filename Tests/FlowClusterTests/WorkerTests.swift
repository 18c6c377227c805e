import FlowProto
import FlowSampler
import FlowTensor
import Foundation
import XCTest

@testable import FlowCluster

/// A program whose output is a closed form of (index, label, column), so batching can be checked.
final class FormulaProgram: ShardProgram {
    let sampleShape = [3]
    let batch: Int
    var calls: [Int] = []
    init(batch: Int) { self.batch = batch }
    func run(
        seed: UInt64, firstIndex: Int, count: Int, labels: UnsafePointer<Int32>, out: UnsafeMutablePointer<Float>
    ) -> RunStats {
        precondition(count <= batch)
        calls.append(count)
        for r in 0..<count {
            for j in 0..<3 {
                out[r * 3 + j] = Float(firstIndex + r) * 10 + Float(labels[r]) + Float(j) * 0.25 + Float(seed)
            }
        }
        var s = RunStats()
        s.predictorSeconds = 0.5
        s.predictorNFE = 4
        return s
    }
    func nfe(ofRow row: Int) -> Int { 4 + row }
}

final class FormulaBackend: WorkerBackend {
    var compiled = 0
    let models: [Flowturbo_V1_ModelDigest]
    var hasTextConditioning: Bool { false }
    init() {
        var m = Flowturbo_V1_ModelDigest()
        m.spec = "formula"
        m.sha256 = "d1"
        m.role = "predictor"
        models = [m]
    }
    func makeProgram(plan: String, batch: Int, guidanceScale: Float, guidanceChannels: Int) throws -> ShardProgram {
        guard plan == "F" else { throw FlowError("unknown plan \(plan)") }
        compiled += 1
        return FormulaProgram(batch: batch)
    }
}

/// A real Worker against a hand-driven ROUTER: hello/welcome, rejections, results, program reuse, shutdown.
final class WorkerTests: XCTestCase {
    func env(_ f: (inout Flowturbo_V1_Envelope) -> Void) throws -> [UInt8] {
        var e = Flowturbo_V1_Envelope()
        f(&e)
        return try e.serializedBytes()
    }

    func next(_ s: ZMQSocket, _ what: String) throws -> (id: [UInt8], env: Flowturbo_V1_Envelope) {
        while true {
            guard try ZMQPoll.readable([s], timeoutMs: 5000)[0], let f = try s.receive() else {
                throw FlowError("timeout waiting for \(what)")
            }
            let e = try Flowturbo_V1_Envelope(serializedBytes: f[f.count - 1])
            if case .heartbeat? = e.body { continue }
            return (f.count == 2 ? f[0] : [], e)
        }
    }

    func assignment(
        shard: UInt64, plan: String = "F", digest: String = "d1", first: Int = 5, count: Int = 20
    ) -> Flowturbo_V1_ShardAssignment {
        var a = Flowturbo_V1_ShardAssignment()
        a.protocolVersion = 1
        a.shardID = shard
        a.plan = plan
        a.batch = 8
        a.seed = 2
        a.firstIndex = UInt64(first)
        a.count = UInt64(count)
        a.leaseID = shard + 100
        a.labels = (0..<count).map { Int32(($0 * 7) % 5) }
        var m = Flowturbo_V1_ModelDigest()
        m.spec = "formula"
        m.sha256 = digest
        m.role = "predictor"
        a.models = [m]
        return a
    }

    func testRejectsBadAssignmentsThenRunsShardsReusingOneProgram() throws {
        let ctx = try ZMQContext()
        let router = try ctx.socket(.router)
        try router.setLinger(0)
        try router.bind("tcp://127.0.0.1:0")
        let pull = try ctx.socket(.pull)
        try pull.setLinger(0)
        try pull.bind("tcp://127.0.0.1:0")
        let port = try router.lastEndpoint().split(separator: ":").last!
        let dataPort = UInt32(try pull.lastEndpoint().split(separator: ":").last!)!
        let backend = FormulaBackend()
        let worker = Worker(
            config: WorkerConfig(connect: "tcp://127.0.0.1:\(port)", workerID: "t1"), backend: backend, context: ctx)
        let done = DispatchSemaphore(value: 0)
        var summary: WorkerSummary?
        Thread {
            summary = try? worker.run()
            done.signal()
        }.start()

        let (id, hello) = try next(router, "hello")
        guard case .hello(let h)? = hello.body else { return XCTFail("expected hello") }
        XCTAssertEqual(h.protocolVersion, 1)
        XCTAssertEqual(h.models.first?.sha256, "d1")
        try router.send([id, try env { $0.welcome.dataPort = dataPort }])
        guard case .workRequest? = try next(router, "work request").env.body else {
            return XCTFail("expected a work request")
        }

        // Digest mismatch and unknown plan are answered with errors; the worker keeps running.
        try router.send([id, try env { $0.assignment = assignment(shard: 1, digest: "other") }])
        guard case .error(let e1)? = try next(router, "error").env.body else { return XCTFail("expected an error") }
        XCTAssertTrue(e1.message.contains("digest mismatch") && e1.fatal, e1.message)
        try router.send([id, try env { $0.assignment = assignment(shard: 2, plan: "nope") }])
        guard case .error(let e2)? = try next(router, "error").env.body else { return XCTFail("expected an error") }
        XCTAssertTrue(e2.message.contains("unknown plan nope"), e2.message)

        // Two valid shards: results on the data socket match the closed form; one program compiled.
        for (shard, first) in [(UInt64(3), 5), (UInt64(4), 25)] {
            let a = assignment(shard: shard, first: first)
            try router.send([id, try env { $0.assignment = a }])
            XCTAssertTrue(try ZMQPoll.readable([pull], timeoutMs: 5000)[0])
            let r = try Flowturbo_V1_Envelope(serializedBytes: try pull.receive()![0]).result
            XCTAssertEqual(r.shardID, shard)
            XCTAssertEqual(r.leaseID, shard + 100)
            XCTAssertEqual(r.shape, [20, 3])
            XCTAssertEqual(r.batchSeconds.count, 3)  // 8 + 8 + 4
            let values = r.latents.withUnsafeBytes { raw in
                (0..<60).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
            }
            var expected: [Float] = []
            for i in 0..<20 {
                for j in 0..<3 {
                    let base: Float = Float(first + i) * 10 + Float(a.labels[i])
                    expected.append(base + Float(j) * 0.25 + 2)
                }
            }
            XCTAssertEqual(values, expected)
            XCTAssertEqual(r.nfe, (0..<20).map { UInt32(4 + $0 % 8) })
            XCTAssertEqual(r.timings.predictorSeconds, 1.5)
            guard case .workRequest? = try next(router, "work request").env.body else {
                return XCTFail("expected a work request")
            }
        }
        XCTAssertEqual(backend.compiled, 1, "one program per (plan, batch), reused")

        try router.send([id, try env { $0.shutdown.reason = "test" }])
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(summary?.shutdownReason, "test")
        XCTAssertEqual(summary?.shards, 2)
        XCTAssertEqual(summary?.rejected, 2)
    }
}
