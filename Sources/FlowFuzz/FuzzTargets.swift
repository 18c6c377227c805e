import FlowCluster
import FlowProto
import FlowTensor
import Foundation

/// Counters of one fuzz session (`flowturbo fuzz`).
public struct FuzzStats {
    /// Inputs fed to the code under test.
    public var executions = 0
    /// Inputs the decoders refused (an error or a counted drop, never a crash).
    public var rejected = 0
    /// Inputs that decoded and passed validation.
    public var accepted = 0
    /// Liveness probes that got no answer in time (a hang or a dead loop).
    public var hangs = 0
    /// Runs the fuzz target restarted (all shards committed, or stopped by a fatal worker error).
    public var restarts = 0
    /// Wall-clock seconds spent.
    public var seconds = 0.0
    /// Free-form observations (e.g. coordinator counters).
    public var notes: [String] = []

    /// Creates zeroed counters.
    public init() {}

    /// Executions per second.
    public var rate: Double { seconds > 0 ? Double(executions) / seconds : 0 }
}

/// Valid seed inputs for the fuzz targets: one envelope of every message type with realistic
/// contents, a result that the aggregator accepts, and a valid journal.
public enum FuzzCorpus {
    /// The eval set and shard layout used by the fuzz coordinator (gmm:synthetic-like: 4 classes, 16 floats).
    public static let sampleShape = [16]
    /// Shard size (samples) of the fuzz runs.
    public static let shardSize = 8

    /// Eval set of `samples` balanced labels over 4 classes.
    public static func evalSet(samples: Int) -> EvalSet {
        // Arguments are valid constants; EvalSet only throws for bad sizes.
        return try! EvalSet(samples: samples, classes: 4, labelMode: .balanced, seed: 5)
    }

    /// A coordinator configuration for fuzzing (no real model needed: the coordinator never runs one).
    public static func coordinatorConfig(
        outDir: String, samples: Int, controlBind: String, dataBind: String
    ) -> CoordinatorConfig {
        var m = Flowturbo_V1_ModelDigest()
        m.spec = "gmm:synthetic"
        m.sha256 = String(repeating: "ab", count: 32)
        m.role = "predictor"
        var c = CoordinatorConfig(
            controlBind: controlBind, dataBind: dataBind, outDir: outDir, evalSet: evalSet(samples: samples),
            plan: "H8", batch: 8, shardSize: shardSize, models: [m], sampleShape: sampleShape)
        c.progress = false
        return c
    }

    /// A result for `shard` the aggregator accepts (latents = index-dependent values).
    public static func result(shard: Int, evalSet: EvalSet, workerID: String = "fuzz") -> Flowturbo_V1_ShardResult {
        let first = shard * shardSize
        let n = min(shardSize, evalSet.samples - first)
        var r = Flowturbo_V1_ShardResult()
        r.shardID = UInt64(shard)
        r.leaseID = 1
        r.workerID = workerID
        r.firstIndex = UInt64(first)
        r.count = UInt64(n)
        r.shape = ([n] + sampleShape).map { UInt32($0) }
        let floats = (0..<(n * sampleShape.reduce(1, *))).map { Float(first) + Float($0) * 0.25 }
        r.latents = floats.withUnsafeBytes { Data($0) }
        r.labels = evalSet.labels(first: first, count: n)
        r.nfe = [UInt32](repeating: 8, count: n)
        r.timings.predictorSeconds = 0.01
        r.timings.totalSeconds = 0.02
        r.batchSeconds = [0.02]
        var bt = Flowturbo_V1_StageTimings()
        bt.predictorSeconds = 0.01
        r.batchTimings = [bt]
        return r
    }

    /// One serialized envelope of every message type.
    public static func envelopes(evalSet: EvalSet) -> [[UInt8]] {
        var out: [Flowturbo_V1_Envelope] = []
        var e = Flowturbo_V1_Envelope()
        var h = Flowturbo_V1_WorkerHello()
        h.workerID = "fuzz:1"
        h.host = "fuzz"
        h.cores = 2
        h.pid = 1
        h.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
        var m = Flowturbo_V1_ModelDigest()
        m.spec = "gmm:synthetic"
        m.sha256 = String(repeating: "ab", count: 32)
        m.role = "predictor"
        h.models = [m]
        e.hello = h
        out.append(e)
        e = Flowturbo_V1_Envelope()
        e.workRequest.workerID = "fuzz:1"
        out.append(e)
        e = Flowturbo_V1_Envelope()
        e.heartbeat.workerID = "fuzz:1"
        e.heartbeat.busy = true
        e.heartbeat.shardID = 3
        out.append(e)
        e = Flowturbo_V1_Envelope()
        e.error.workerID = "fuzz:1"
        e.error.shardID = 2
        e.error.message = "boom"
        out.append(e)
        e = Flowturbo_V1_Envelope()
        e.result = result(shard: 1, evalSet: evalSet)
        out.append(e)
        var a = Flowturbo_V1_ShardAssignment()
        a.protocolVersion = 1
        a.shardID = 4
        a.firstIndex = 32
        a.count = 8
        a.plan = "H8"
        a.batch = 8
        a.seed = 5
        a.evalSet.evalSetID = evalSet.id
        a.evalSet.samples = UInt64(evalSet.samples)
        a.evalSet.classes = 4
        a.evalSet.labelMode = "balanced"
        a.models = [m]
        a.leaseID = 9
        a.leaseDeadlineUnixMs = 1_700_000_000_000
        a.labels = evalSet.labels(first: 32, count: 8)
        e = Flowturbo_V1_Envelope()
        e.assignment = a
        out.append(e)
        e = Flowturbo_V1_Envelope()
        e.committed.shardID = 1
        e.committed.file = "latents/shard-000001.npy"
        e.committed.checksum = "0badf00d"
        out.append(e)
        e = Flowturbo_V1_Envelope()
        e.shutdown.reason = "done"
        out.append(e)
        e = Flowturbo_V1_Envelope()
        e.noWork.retryAfterMs = 100
        out.append(e)
        e = Flowturbo_V1_Envelope()
        e.welcome.dataPort = 5556
        e.welcome.heartbeatIntervalMs = 1000
        e.welcome.liveness = 3
        e.welcome.runID = "ff"
        out.append(e)
        return out.compactMap { try? $0.serializedBytes() }
    }
}

/// The synchronous fuzz targets: protobuf decoders and the journal reader used by `--resume`.
public enum FuzzTargets {
    /// Feeds mutated envelopes to every protobuf decoder that reads network input (the envelope and
    /// each message type on its own, as the aggregator and workers decode them), re-encodes what
    /// decodes, and checks the round trip is stable.
    public static func proto(seconds: Double, seed: UInt64, record: ([UInt8]) -> Void = { _ in }) -> FuzzStats {
        var stats = FuzzStats()
        var rng = FuzzMutator(seed: seed)
        let corpus = FuzzCorpus.envelopes(evalSet: FuzzCorpus.evalSet(samples: 64))
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            for _ in 0..<64 {
                let input = rng.mutate(corpus[rng.below(corpus.count)], corpus: corpus)
                record(input)
                stats.executions += 1
                guard let env = try? Flowturbo_V1_Envelope(serializedBytes: input) else {
                    stats.rejected += 1
                    continue
                }
                _ = try? Flowturbo_V1_ShardResult(serializedBytes: input)
                _ = try? Flowturbo_V1_ShardAssignment(serializedBytes: input)
                _ = try? Flowturbo_V1_WorkerHello(serializedBytes: input)
                if let again = try? env.serializedBytes() as [UInt8],
                    let env2 = try? Flowturbo_V1_Envelope(serializedBytes: again),
                    env2 == env
                {
                    stats.accepted += 1
                } else {
                    stats.notes.append("round trip unstable for a \(input.count)-byte input")
                }
            }
        }
        stats.seconds = Date().timeIntervalSince(start)
        return stats
    }

    /// A valid journal of `commits` committed shards for the fuzz coordinator configuration.
    public static func journalSeed(dir: String, samples: Int, commits: Int) throws -> [UInt8] {
        let path = dir + "/seed-journal.log"
        try? FileManager.default.removeItem(atPath: path)
        let config = FuzzCorpus.coordinatorConfig(
            outDir: dir, samples: samples, controlBind: "inproc://x", dataBind: "inproc://y")
        let j = try Journal.create(path, header: config.header)
        for s in 0..<commits {
            try j.append(
                ShardCommit(
                    shard: s, first: s * FuzzCorpus.shardSize, count: FuzzCorpus.shardSize,
                    file: Aggregator.latentsFile(shard: s), checksum: "0badf00d", worker: "fuzz"))
        }
        j.close()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try FileIO.read(path)
    }

    /// Mutates a journal record's JSON (numbers set to extremes, bytes mutated) and re-seals its CRC so
    /// the input gets past the checksum into the decoders.
    static func mutateRecord(_ journal: [UInt8], rng: inout FuzzMutator, corpus: [[UInt8]]) -> [UInt8] {
        var lines = journal.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard !lines.isEmpty else { return journal }
        let k = rng.below(lines.count)
        let line = lines[k]
        let payload = Array(line[..<(line.lastIndex(of: 0x09) ?? line.endIndex)])
        var text = String(decoding: payload, as: UTF8.self)
        if rng.below(2) == 0 {
            // Replace one number with an extreme one.
            let numbers = [
                "-1", "0", "-9223372036854775808", "9223372036854775807", "9223372036854775808", "1e300",
                "18446744073709551615", "4294967296", "-0.5", "99999999999999999999999",
            ]
            if let re = try? NSRegularExpression(pattern: #"(?<=:)-?[0-9][0-9.eE+-]*"#) {
                let ms = re.matches(in: text, range: NSRange(text.startIndex..., in: text))
                if !ms.isEmpty, let r = Range(ms[rng.below(ms.count)].range, in: text) {
                    text.replaceSubrange(r, with: numbers[rng.below(numbers.count)])
                }
            }
        } else {
            text = String(decoding: rng.mutate(Array(text.utf8), corpus: corpus), as: UTF8.self)
        }
        let p = Array(text.utf8).filter { $0 != 0x0A }
        lines[k] = p + [0x09] + Array(CRC32.hex(p).utf8)
        return Array(lines.joined(separator: [0x0A])) + [0x0A]
    }

    /// Feeds mutated journals to `Journal.read` and, when the header still matches, to the
    /// coordinator's resume path (`Coordinator.init` with `resume`), which maps commits onto shards.
    public static func journal(
        seconds: Double, seed: UInt64, workDir: String, record: ([UInt8]) -> Void = { _ in }
    ) throws -> FuzzStats {
        var stats = FuzzStats()
        var rng = FuzzMutator(seed: seed)
        try FileIO.makeDirectories(workDir)
        let samples = 64
        let seeds = [
            try journalSeed(dir: workDir, samples: samples, commits: 0),
            try journalSeed(dir: workDir, samples: samples, commits: 3),
            try journalSeed(dir: workDir, samples: samples, commits: 8),
        ]
        let context = try ZMQContext()
        let start = Date()
        var n = 0
        while Date().timeIntervalSince(start) < seconds {
            let base = seeds[rng.below(seeds.count)]
            let input =
                rng.below(3) == 0 ? rng.mutate(base, corpus: seeds) : mutateRecord(base, rng: &rng, corpus: seeds)
            record(input)
            stats.executions += 1
            let dir = workDir + "/run"
            try FileIO.makeDirectories(dir)
            let path = dir + "/journal.log"
            try FileIO.writeAtomically(path, input)
            do {
                _ = try Journal.read(path)
                n += 1
                var config = FuzzCorpus.coordinatorConfig(
                    outDir: dir, samples: samples, controlBind: "inproc://fuzz-c\(n)",
                    dataBind: "inproc://fuzz-d\(n)")
                config.resume = true
                _ = try Coordinator(config: config, context: context)
                stats.accepted += 1
            } catch {
                stats.rejected += 1
            }
        }
        stats.seconds = Date().timeIntervalSince(start)
        return stats
    }
}
