import FlowCluster
import FlowProto
import FlowTensor
import Foundation

/// Fuzzes the worker's side of the protocol: a fake coordinator (ROUTER) sends mutated Welcome,
/// ShardAssignment, NoWork, Heartbeat and Shutdown envelopes to a real in-process `Worker` running the
/// analytic `gmm:synthetic` model. The worker must keep heartbeating (no hang, no trap); it may
/// reject assignments, reconnect, or exit on a Shutdown (then a fresh worker is started).
/// Welcome messages always carry the fuzzer's own data port, so results never leave this process.
public enum FuzzWorker {
    /// Runs the target for about `seconds`; `record` sees each input before it is sent.
    public static func run(seconds: Double, seed: UInt64, record: ([UInt8]) -> Void = { _ in }) throws -> FuzzStats {
        var stats = FuzzStats()
        var rng = FuzzMutator(seed: seed)
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.setLinger(0)
        try router.bind("tcp://127.0.0.1:0")
        let port = Int(try router.lastEndpoint().split(separator: ":").last ?? "0") ?? 0
        let sink = try context.socket(.pull)
        try sink.setLinger(0)
        try sink.bind("tcp://127.0.0.1:0")
        let dataPort = UInt32(try sink.lastEndpoint().split(separator: ":").last ?? "0") ?? 0
        let backend = try ModelBackend(model: "gmm:synthetic", refiner: nil)
        var corpus = FuzzCorpus.envelopes(evalSet: FuzzCorpus.evalSet(samples: 64))
        // Assignments the worker can actually run (its model digest).
        for shard in 0..<2 {
            var e = Flowturbo_V1_Envelope()
            var a = Flowturbo_V1_ShardAssignment()
            a.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
            a.shardID = UInt64(shard)
            a.firstIndex = UInt64(shard * 8)
            a.count = 8
            a.plan = shard == 0 ? "H8" : "E4"
            a.batch = 8
            a.seed = 5
            a.models = backend.models
            a.leaseID = 1
            a.labels = FuzzCorpus.evalSet(samples: 64).labels(first: shard * 8, count: 8)
            e.assignment = a
            if let b = try? e.serializedBytes() as [UInt8] { corpus.append(b) }
        }
        let start = Date()
        var workers = 0
        var results = 0
        while Date().timeIntervalSince(start) < seconds {
            workers += 1
            var config = WorkerConfig(connect: "tcp://127.0.0.1:\(port)", workerID: "fuzz-\(workers)")
            config.giveUpSeconds = 8
            let worker = Worker(config: config, backend: backend, context: context)
            let done = DispatchSemaphore(value: 0)
            Thread {
                _ = try? worker.run()
                done.signal()
            }.start()
            var peer: [UInt8]?
            var lastHeard = Date()
            var exited = false
            while Date().timeIntervalSince(start) < seconds {
                if done.wait(timeout: .now()) == .success {
                    exited = true
                    break
                }  // exited (Shutdown): start another
                while let f = try? router.receive(dontWait: true), f.count == 2 {
                    peer = f[0]
                    lastHeard = Date()
                }
                while (try? sink.receive(dontWait: true)) ?? nil != nil { results += 1 }
                if Date().timeIntervalSince(lastHeard) > 5 {
                    stats.hangs += 1
                    stats.notes.append("worker silent for 5 s after \(stats.executions) executions")
                    lastHeard = Date()
                }
                guard let id = peer else {
                    usleep(2000)
                    continue
                }
                var input = rng.mutate(corpus[rng.below(corpus.count)], corpus: corpus)
                if var env = try? Flowturbo_V1_Envelope(serializedBytes: input), case .welcome? = env.body {
                    env.welcome.dataPort = dataPort  // keep result traffic inside this process
                    if let b = try? env.serializedBytes() as [UInt8] { input = b }
                }
                record(input)
                stats.executions += 1
                try? router.send([id, input], dontWait: true)
                if stats.executions % 64 == 0 { usleep(1000) }
            }
            // Make the worker exit, then wait for it (a running shard is small: 8 samples).
            var bye = Flowturbo_V1_Envelope()
            bye.shutdown.reason = "fuzz done"
            let byeBytes = (try? bye.serializedBytes() as [UInt8]) ?? []
            let deadline = Date().addingTimeInterval(15)
            while !exited && done.wait(timeout: .now() + 0.05) != .success {
                while let f = try? router.receive(dontWait: true), f.count == 2 { peer = f[0] }
                if let id = peer { try? router.send([id, byeBytes], dontWait: true) }
                if Date() > deadline {
                    stats.hangs += 1
                    stats.notes.append("worker did not exit after Shutdown")
                    break
                }
            }
        }
        stats.seconds = Date().timeIntervalSince(start)
        stats.restarts = workers - 1
        stats.accepted = results
        stats.notes.append("\(workers) worker(s) started, \(results) results received")
        return stats
    }
}
