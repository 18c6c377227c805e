import FlowCluster
import FlowProto
import FlowSampler
import FlowTestSupport
import Foundation
import XCTest

@testable import FlowFuzz

/// A worker refuses plans with more solver steps than its limit.
final class WorkerStepLimitTests: XCTestCase {
    func tempDir(_ tag: String) -> String { TestEnvironment.tempDirectory("limits-\(tag)") }

    /// An assignment whose plan exceeds the worker's step limit is refused with a fatal Error (a shard
    /// must stay bounded), not run for hours.
    func testWorkerRefusesPlansOverItsStepLimit() throws {
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.setLinger(0)
        try router.bind("tcp://127.0.0.1:0")
        let port = Int(try router.lastEndpoint().split(separator: ":").last!)!
        let backend = try ModelBackend(model: "gmm:synthetic", refiner: nil)
        var wc = WorkerConfig(connect: "tcp://127.0.0.1:\(port)", workerID: "limit")
        wc.maxPlanSteps = 64
        wc.giveUpSeconds = 10
        let worker = Worker(config: wc, backend: backend, context: context)
        let done = DispatchSemaphore(value: 0)
        Thread {
            _ = try? worker.run()
            done.signal()
        }.start()
        let evalSet = try EvalSet(samples: 16, classes: 4, seed: 1)
        var error: Flowturbo_V1_Error?
        var id: [UInt8] = []
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline && error == nil {
            guard try ZMQPoll.readable([router], timeoutMs: 50)[0], let f = try router.receive(dontWait: true),
                let e = try? Flowturbo_V1_Envelope(serializedBytes: f[1])
            else { continue }
            id = f[0]
            var out = Flowturbo_V1_Envelope()
            switch e.body {
            case .hello?:
                out.welcome.dataPort = 1
                out.welcome.heartbeatIntervalMs = 1000
                out.welcome.liveness = 3
                try router.send([id, try out.serializedBytes()])
            case .workRequest?:
                var a = Flowturbo_V1_ShardAssignment()
                a.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
                a.shardID = 3
                a.count = 8
                a.plan = "H65"
                a.batch = 8
                a.seed = 1
                a.models = backend.models
                a.leaseID = 1
                a.labels = evalSet.labels(first: 0, count: 8)
                out.assignment = a
                try router.send([id, try out.serializedBytes()])
            case .error(let x)?: error = x
            default: break
            }
        }
        var bye = Flowturbo_V1_Envelope()
        bye.shutdown.reason = "done"
        try router.send([id, try bye.serializedBytes()])
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(error?.shardID, 3)
        XCTAssertEqual(error?.fatal, true)
        XCTAssertTrue(error?.message.contains("65 steps") ?? false, error?.message ?? "no error")
    }
}
