import FlowProto
import FlowStats
import FlowTensor
import Foundation
import CZeroMQ

/// Receives shard results straight from workers (PULL), writes them durably, and tells the
/// coordinator "committed" over an inproc socket.
///
/// Files per shard, under `<out>/latents/`: `shard-NNNNNN.npy` (float32, `[count, …sampleShape]`),
/// `shard-NNNNNN.labels.npy` (int32) and `shard-NNNNNN.json` (per-sample NFE, stage timings).
/// Each is written with `FileIO.writeAtomically(durable: true)` before the commit is sent, so a
/// journaled shard is always on disk (files 0600 in a 0700 directory). A result is written only when it
/// answers a lease the coordinator issued for that shard: its lease id and secret token, and with CURVE the
/// key of the lease's holder (`LeaseBook`); anything else is counted as forged and dropped before any other
/// check. Results are then validated (index range, labels, byte count); invalid or undecodable messages
/// are dropped and counted, duplicates dropped.
public final class Aggregator {
    /// Counters and per-shard statistics, readable after `stop()`.
    public struct Stats {
        public var received = 0, committed = 0, duplicates = 0, dropped = 0
        /// Results that answer no lease issued to their sender (unknown lease id, wrong token, wrong key, revoked).
        public var forged = 0
        /// Results of audited shards held until another worker confirms (or contradicts) them.
        public var auditHeld = 0
        /// Results with NaN/Inf latents (not written) and shards that could not be written (disk full…).
        public var nonFinite = 0, writeErrors = 0
        public var bytes = 0
        /// NFE of every sample computed this session (index order not guaranteed).
        public var nfe: [Int] = []
        /// Per-batch wall-clock seconds reported by workers.
        public var batchSeconds: [Double] = []
        public var predictorSeconds = 0.0, refinerSeconds = 0.0, solverSeconds = 0.0
        /// Latency histograms (per batch, per stage, per worker) and the completion timeline.
        public var latency = LatencyRecorder()
    }

    private let context: ZMQContext
    private let outDir: String
    private let sampleSize: Int
    private let sampleShape: [Int]
    private let shards: [Range<Int>]
    private let expectedLabels: (Range<Int>) -> [Int32]
    private let leases: LeaseBook
    private let audit: AuditBook?
    private let pull: ZMQSocket
    private let commitEndpoint: String
    private let lock = NSLock()
    private var committedSet: Set<Int>
    private var _stats = Stats()
    private var stopFlag = false
    private let finished = DispatchSemaphore(value: 0)
    private var running = false
    private let started = Date()
    /// Port the PULL socket is bound to.
    public private(set) var port = 0
    /// Also receives every stage latency recorded (stage, seconds, count) on the aggregator thread; set before `start()`.
    public var onStageLatency: ((LatencyStage, Double, Int) -> Void)?

    /// Binds the data socket on `dataBind` (`tcp://*:0` picks a free port). `alreadyCommitted`
    /// are shards from the journal (their results are duplicates).
    public init(context: ZMQContext, dataBind: String, outDir: String, sampleShape: [Int], shards: [Range<Int>],
                alreadyCommitted: Set<Int>, commitEndpoint: String, leases: LeaseBook, audit: AuditBook? = nil,
                security: CurveServerSecurity? = nil, maxMessageBytes: Int64,
                expectedLabels: @escaping (Range<Int>) -> [Int32]) throws {
        self.context = context; self.outDir = outDir; self.sampleShape = sampleShape
        self.sampleSize = sampleShape.reduce(1, *); self.shards = shards; self.leases = leases
        self.audit = audit
        self.committedSet = alreadyCommitted; self.commitEndpoint = commitEndpoint; self.expectedLabels = expectedLabels
        try PrivateFiles.makeSubdirectory(outDir + "/latents")
        pull = try context.socket(.pull)
        try pull.setLinger(0)
        try pull.setMaxMessageSize(maxMessageBytes)
        try security?.apply(to: pull)
        try pull.bind(dataBind)
        port = Int(try pull.lastEndpoint().split(separator: ":").last ?? "0") ?? 0
    }

    /// Relative path of a shard's latents file.
    public static func latentsFile(shard: Int) -> String {
        let s = String(shard)
        return "latents/shard-" + String(repeating: "0", count: max(0, 6 - s.count)) + s + ".npy"
    }

    /// Snapshot of the counters.
    public var stats: Stats { lock.lock(); defer { lock.unlock() }; return _stats }

    /// Starts the receive thread (the commit PUSH socket connects to the coordinator's inproc PULL,
    /// which must already be bound).
    public func start() throws {
        let push = try context.socket(.push)
        try push.setLinger(1000)
        try push.connect(commitEndpoint)
        running = true
        let t = Thread { [self] in
            self.loop(push: push)
            push.close()
            self.pull.close()
            self.finished.signal()
        }
        t.name = "aggregator"
        t.start()
    }

    /// Stops the thread and waits for it (pending results are not processed).
    public func stop() {
        guard running else { return }
        lock.lock(); stopFlag = true; lock.unlock()
        finished.wait()
        running = false
    }

    private func loop(push: ZMQSocket) {
        while true {
            lock.lock(); let stop = stopFlag; lock.unlock()
            if stop { return }
            do {
                guard try ZMQPoll.readable([pull], timeoutMs: 50)[0] else { continue }
                while let (frames, userID) = try pull.receiveWithUserID(dontWait: true) {
                    handle(frames, peerKey: userID, push: push)
                }
            } catch let e as ZMQError where e.isTerminated {
                return
            } catch {
                FileHandle.standardError.write(Data("aggregator: \(error)\n".utf8))
            }
        }
    }

    /// Records into the report's histograms (caller holds `lock`) and forwards to `onStageLatency`.
    private func recordLatency(_ stage: LatencyStage, seconds: Double, worker: String? = nil, count: Int = 1) {
        _stats.latency.record(stage, seconds: seconds, worker: worker, count: count)
        onStageLatency?(stage, seconds, count)
    }

    private func count(_ f: (inout Stats) -> Void) { lock.lock(); f(&_stats); lock.unlock() }

    private func handle(_ frames: [[UInt8]], peerKey: String?, push: ZMQSocket) {
        let bytes = frames.reduce(0) { $0 + $1.count }
        count { $0.received += 1; $0.bytes += bytes }
        guard frames.count == 1, let env = try? Flowturbo_V1_Envelope(serializedBytes: frames[0]),
              case .result(let r)? = env.body else {
            count { $0.dropped += 1 }; return
        }
        guard let shard = Int(exactly: r.shardID), shard < shards.count else { count { $0.dropped += 1 }; return }
        // Before anything else (a forged NaN result must not get the lease's real holder banned).
        let verdict = leases.verify(shard: shard, leaseID: r.leaseID, token: r.leaseToken, peerKey: peerKey)
        guard case .accepted(let lease) = verdict else {
            count { $0.forged += 1 }; return
        }
        let range = shards[shard]
        let n = range.count
        guard r.firstIndex == UInt64(range.lowerBound), r.count == UInt64(n), r.latents.count == n * sampleSize * 4,
              r.labels == expectedLabels(range), r.nfe.count == n,
              r.shape.map({ Int($0) }) == [n] + sampleShape else {
            count { $0.dropped += 1 }; return
        }
        guard Aggregator.plausibleTimings(r, samples: n) else { count { $0.dropped += 1 }; return }
        let receivedUnixUs = Int64(Date().timeIntervalSince1970 * 1e6)
        lock.lock(); let dup = committedSet.contains(shard); lock.unlock()
        if dup { count { $0.duplicates += 1 }; return }
        if !Aggregator.allFinite(r.latents) {
            // Not written: the coordinator marks the shard and re-runs it on another worker.
            count { $0.nonFinite += 1 }
            report(push, shard: shard, lease: r.leaseID, worker: r.workerID, message: "latents contain NaN/Inf",
                   fatal: false)
            return
        }
        if let a = audit, a.offer(shard: shard, holder: lease.holder, worker: r.workerID, latents: r.latents) == .hold {
            count { $0.auditHeld += 1 }
            return   // audited: written once another worker sends the same bytes
        }
        do {
            let file = Aggregator.latentsFile(shard: shard)
            let base = outDir + "/" + String(file.dropLast(4))
            let npy = r.latents.withUnsafeBytes { NPY.encode(dtype: .float32, shape: [n] + sampleShape, body: $0) }
            let labels = r.labels.map { Int32(littleEndian: $0) }
            let labelBytes = labels.withUnsafeBytes { NPY.encode(dtype: .int32, shape: [n], body: $0) }
            let meta: [String: Any] = [
                "shard": shard, "first": range.lowerBound, "count": n, "worker": r.workerID,
                "nfe": r.nfe.map { Int($0) }, "batch_seconds": r.batchSeconds,
                "predictor_seconds": r.timings.predictorSeconds, "refiner_seconds": r.timings.refinerSeconds,
                "solver_seconds": r.timings.solverSeconds, "total_seconds": r.timings.totalSeconds,
                "text_encoder_seconds": r.timings.textEncoderSeconds,
            ]
            let json = try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys])
            // Latents and labels are fsynced, the advisory timings file is not; one directory fsync
            // then makes all three renames durable (3 fsyncs per shard instead of 6).
            try PrivateFiles.replace(base + ".labels.npy", labelBytes, sync: true)
            try PrivateFiles.replace(base + ".json", Array(json), sync: false)
            try PrivateFiles.replace(outDir + "/" + file, npy, sync: true)
            FileIO.syncDirectory(of: outDir + "/" + file)
            var c = Flowturbo_V1_ShardCommitted()
            c.shardID = UInt64(shard); c.leaseID = r.leaseID; c.file = file; c.checksum = CRC32.hex(npy); c.workerID = r.workerID
            var out = Flowturbo_V1_Envelope(); out.committed = c
            try push.send(try out.serializedBytes())
            lock.lock()
            committedSet.insert(shard)
            _stats.committed += 1
            _stats.nfe += r.nfe.map { Int($0) }
            _stats.batchSeconds += r.batchSeconds
            _stats.predictorSeconds += r.timings.predictorSeconds
            _stats.refinerSeconds += r.timings.refinerSeconds
            _stats.solverSeconds += r.timings.solverSeconds
            for b in r.batchSeconds { recordLatency(.total, seconds: b, worker: r.workerID) }
            if r.queueWaitSeconds > 0 { recordLatency(.queueWait, seconds: r.queueWaitSeconds) }   // 0: an older worker
            if r.timings.textEncoderSeconds > 0 {   // prompt shards: one value per shard
                recordLatency(.textEncoder, seconds: r.timings.textEncoderSeconds)
            }
            if r.finishedUnixUs > 0 {
                // Clock offset between hosts can make this negative; it then counts as 0 (1 µs).
                let us = receivedUnixUs.subtractingReportingOverflow(r.finishedUnixUs)
                if !us.overflow, Double(us.partialValue) <= Aggregator.maxPlausibleSeconds * 1e6 {
                    recordLatency(.transfer, seconds: Double(max(0, us.partialValue)) / 1e6)
                }
            }
            if !r.batchTimings.isEmpty {
                // One value per batch, like `total`.
                for b in r.batchTimings {
                    if b.predictorSeconds > 0 { recordLatency(.predictor, seconds: b.predictorSeconds) }
                    if b.refinerSeconds > 0 { recordLatency(.refiner, seconds: b.refinerSeconds) }
                    if b.solverSeconds > 0 { recordLatency(.solverUpdate, seconds: b.solverSeconds) }
                }
            } else {
                // A worker without per-batch stage times: the shard's per-batch means.
                let batches = max(1, r.batchSeconds.count)
                if r.timings.predictorSeconds > 0 { recordLatency(.predictor, seconds: r.timings.predictorSeconds / Double(batches), count: batches) }
                if r.timings.refinerSeconds > 0 { recordLatency(.refiner, seconds: r.timings.refinerSeconds / Double(batches), count: batches) }
                if r.timings.solverSeconds > 0 { recordLatency(.solverUpdate, seconds: r.timings.solverSeconds / Double(batches), count: batches) }
            }
            _stats.latency.complete(samples: n, at: Date().timeIntervalSince(started), nfe: r.nfe.reduce(0) { $0 + Int($1) })
            lock.unlock()
        } catch {
            // Nothing was journaled for this shard; stop the run with a clear error (a full disk does
            // not get better by retrying on another worker). `--resume` continues once it is fixed.
            count { $0.writeErrors += 1 }
            report(push, shard: shard, lease: r.leaseID, worker: r.workerID,
                   message: "cannot write shard \(shard) into \(outDir): \(error); the journal is intact — free space (or fix the directory) and rerun with --resume", fatal: true)
        }
    }

    /// Longest believable duration of one shard or batch stage (a week); anything beyond is a malformed result.
    static let maxPlausibleSeconds = 7 * 86_400.0

    /// Timings from the wire are untrusted: finite, within [0, a week], at most one batch per sample, and
    /// per-batch stage times either absent or one per batch. (Unchecked, a huge or NaN value would trap when
    /// converted to histogram microseconds, or make the shard's JSON unwritable.)
    static func plausibleTimings(_ r: Flowturbo_V1_ShardResult, samples n: Int) -> Bool {
        func ok(_ x: Double) -> Bool { x.isFinite && x >= 0 && x <= maxPlausibleSeconds }
        func ok(_ t: Flowturbo_V1_StageTimings) -> Bool {
            ok(t.predictorSeconds) && ok(t.refinerSeconds) && ok(t.solverSeconds) && ok(t.totalSeconds)
                && ok(t.textEncoderSeconds)
        }
        guard r.batchSeconds.count <= max(n, 1), r.batchSeconds.allSatisfy(ok), ok(r.timings), ok(r.queueWaitSeconds) else { return false }
        return r.batchTimings.isEmpty || (r.batchTimings.count == r.batchSeconds.count && r.batchTimings.allSatisfy(ok))
    }

    /// True when every little-endian float32 in `bytes` is finite.
    static func allFinite(_ bytes: Data) -> Bool {
        bytes.withUnsafeBytes { raw -> Bool in
            var i = 0
            while i + 4 <= raw.count {
                let bits = UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24
                if bits & 0x7F80_0000 == 0x7F80_0000 { return false }   // exponent all ones: Inf or NaN
                i += 4
            }
            return true
        }
    }

    /// Tells the coordinator about a refused result over the commit channel.
    private func report(_ push: ZMQSocket, shard: Int, lease: UInt64, worker: String, message: String, fatal: Bool) {
        var e = Flowturbo_V1_Error()
        e.shardID = UInt64(shard); e.leaseID = lease; e.workerID = worker; e.message = message; e.fatal = fatal
        var env = Flowturbo_V1_Envelope(); env.error = e
        if let b = try? env.serializedBytes() as [UInt8] { try? push.send(b) }
        if fatal { FileHandle.standardError.write(Data("aggregator: \(message)\n".utf8)) }
    }
}
