import CZeroMQ
import FlowProto
import FlowStats
import FlowTensor
import Foundation

/// Receives shard results straight from workers (PULL), writes them durably, and tells the
/// coordinator "committed" over an inproc socket.
///
/// Files per shard, under `<out>/latents/`: `shard-NNNNNN.npy` (float32, `[count, …sampleShape]`),
/// `shard-NNNNNN.labels.npy` (int32) and `shard-NNNNNN.json` (per-sample NFE, stage timings).
/// Results are group-committed (`AggregatorCommit.swift`): a batch's files go into the shard log with one fsync
/// (`ShardLog`) and are then reported; a `ShardMaterializer` thread writes the files themselves (0600 in a 0700
/// directory) from sealed log segments, so a journaled shard is always on disk or restorable from the log. A result is written only when it
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
        /// Group commits (one shard-log fsync each) and checkpoints (log segments whose files were written and
        /// synced, one `syncfs` each) this session.
        public var commitBatches = 0, checkpoints = 0
        /// Shard files the materializer wrote this session, and its wall-clock seconds (off the commit path).
        public var shardFiles = 0, shardFileSeconds = 0.0
    }

    private let context: ZMQContext
    let outDir: String
    private let sampleSize: Int
    private let sampleShape: [Int]
    private let shards: [Range<Int>]
    private let expectedLabels: (Range<Int>) -> [Int32]
    private let leases: LeaseBook
    private let audit: AuditBook?
    private let pull: ZMQSocket
    private let commitEndpoint: String
    let lock = NSLock()
    var committedSet: Set<Int>
    var _stats = Stats()
    let shardLog: ShardLog
    /// The receive loop's thread (started by `start()`).
    private var actor: ZMQActor?
    let started = Date()
    /// Port the PULL socket is bound to.
    public private(set) var port = 0
    /// Also receives every stage latency recorded (stage, seconds, count) on the aggregator thread; set before `start()`.
    public var onStageLatency: ((LatencyStage, Double, Int) -> Void)?

    /// Binds the data socket on `dataBind` (`tcp://*:0` picks a free port). `alreadyCommitted`
    /// are shards from the journal (their results are duplicates).
    public init(
        context: ZMQContext, dataBind: String, outDir: String, sampleShape: [Int], shards: [Range<Int>],
        alreadyCommitted: Set<Int>, commitEndpoint: String, leases: LeaseBook, audit: AuditBook? = nil,
        security: CurveServerSecurity? = nil, maxMessageBytes: Int64,
        expectedLabels: @escaping (Range<Int>) -> [Int32]
    ) throws {
        self.context = context
        self.outDir = outDir
        self.sampleShape = sampleShape
        self.sampleSize = sampleShape.reduce(1, *)
        self.shards = shards
        self.leases = leases
        self.audit = audit
        self.committedSet = alreadyCommitted
        self.commitEndpoint = commitEndpoint
        self.expectedLabels = expectedLabels
        try PrivateFiles.makeSubdirectory(outDir + "/latents")
        // A crashed session's shard log first: journaled shards whose files were lost are restored from it.
        try ShardLog.recover(outDir: outDir)
        shardLog = ShardLog(outDir: outDir)
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
    public var stats: Stats {
        let m = shardLog.materializer.stats
        lock.lock()
        var s = _stats
        lock.unlock()
        s.checkpoints = m.segments
        s.shardFiles = m.files
        s.shardFileSeconds = m.seconds
        return s
    }

    /// Starts the receive thread (the commit PUSH socket connects to the coordinator's inproc PULL,
    /// which must already be bound).
    public func start() throws {
        let push = try context.socket(.push)
        try push.setLinger(1000)
        try push.connect(commitEndpoint)
        actor = try ZMQActor(context: context, name: "aggregator") { [self] pipe in
            self.loop(pipe: pipe, push: push)
            do { try self.shardLog.checkpoint() } catch {
                FileHandle.standardError.write(
                    Data("aggregator: \(error); \(Setting.resume) restores the run from the shard log\n".utf8))
            }
            push.close()
            self.pull.close()
        }
    }

    /// Stops the thread and waits for it (pending results are not processed).
    public func stop() { actor?.stop() }

    private func loop(pipe: ZMQSocket, push: ZMQSocket) {
        while true {
            // Group commit: everything that arrived (up to `maxBatchShards`, for at most `maxBatchMilliseconds`)
            // is made durable with one shard-log fsync and reported together; results arriving meanwhile form
            // the next batch.
            var batch: [Pending] = []
            defer { commit(batch, push: push) }
            do {
                // Woken at least once a second so that an idle run's last shard files appear (`sealIfOld`).
                let ready = try ZMQPoll.readable([pipe, pull], timeoutMs: 1000)
                if ready[0] && ZMQActor.terminated(pipe) { return }
                guard ready[1] else {
                    try shardLog.sealIfOld()
                    continue
                }
                let opened = DispatchTime.now().uptimeNanoseconds
                while batch.count < Aggregator.maxBatchShards,
                    DispatchTime.now().uptimeNanoseconds - opened < UInt64(Aggregator.maxBatchMilliseconds) * 1_000_000,
                    let (frames, userID) = try pull.receiveWithUserID(dontWait: true)
                {
                    handle(frames, peerKey: userID, push: push, into: &batch)
                }
            } catch let e as ZMQError where e.isTerminated {
                return
            } catch {
                FileHandle.standardError.write(Data("aggregator: \(error)\n".utf8))
            }
        }
    }

    /// Records into the report's histograms (caller holds `lock`) and forwards to `onStageLatency`.
    func recordLatency(_ stage: LatencyStage, seconds: Double, worker: String? = nil, count: Int = 1) {
        _stats.latency.record(stage, seconds: seconds, worker: worker, count: count)
        onStageLatency?(stage, seconds, count)
    }

    func count(_ f: (inout Stats) -> Void) {
        lock.lock()
        f(&_stats)
        lock.unlock()
    }

    /// Validates one result; a valid, new one joins `batch` (written and reported by `commit`).
    private func handle(_ frames: [[UInt8]], peerKey: String?, push: ZMQSocket, into batch: inout [Pending]) {
        let bytes = frames.reduce(0) { $0 + $1.count }
        count {
            $0.received += 1
            $0.bytes += bytes
        }
        guard frames.count == 1, let env = try? Flowturbo_V1_Envelope(serializedBytes: frames[0]),
            case .result(let r)? = env.body
        else {
            count { $0.dropped += 1 }
            return
        }
        guard let shard = Int(exactly: r.shardID), shard < shards.count else {
            count { $0.dropped += 1 }
            return
        }
        // Before anything else (a forged NaN result must not get the lease's real holder banned).
        let verdict = leases.verify(shard: shard, leaseID: r.leaseID, token: r.leaseToken, peerKey: peerKey)
        guard case .accepted(let lease) = verdict else {
            count { $0.forged += 1 }
            return
        }
        let range = shards[shard]
        let n = range.count
        guard r.firstIndex == UInt64(range.lowerBound), r.count == UInt64(n), r.latents.count == n * sampleSize * 4,
            r.labels == expectedLabels(range), r.nfe.count == n,
            r.shape.map({ Int($0) }) == [n] + sampleShape
        else {
            count { $0.dropped += 1 }
            return
        }
        guard Aggregator.plausibleTimings(r, samples: n) else {
            count { $0.dropped += 1 }
            return
        }
        let receivedUnixUs = Int64(Date().timeIntervalSince1970 * 1e6)
        lock.lock()
        let dup = committedSet.contains(shard)
        lock.unlock()
        if dup || batch.contains(where: { $0.entry.shard == shard }) {
            count { $0.duplicates += 1 }
            return
        }
        if !Aggregator.allFinite(r.latents) {
            // Not written: the coordinator marks the shard and re-runs it on another worker.
            count { $0.nonFinite += 1 }
            report(
                push, shard: shard, lease: r.leaseID, worker: r.workerID, message: "latents contain NaN/Inf",
                fatal: false)
            return
        }
        if let a = audit, a.offer(shard: shard, holder: lease.holder, worker: r.workerID, latents: r.latents) == .hold {
            count { $0.auditHeld += 1 }
            return  // audited: written once another worker sends the same bytes
        }
        let file = Aggregator.latentsFile(shard: shard)
        let npy = r.latents.withUnsafeBytes { NPY.encode(dtype: .float32, shape: [n] + sampleShape, body: $0) }
        let labels = r.labels.map { Int32(littleEndian: $0) }
        let labelBytes = labels.withUnsafeBytes { NPY.encode(dtype: .int32, shape: [n], body: $0) }
        let json = ShardMeta.encode(r, shard: shard, first: range.lowerBound, count: n)
        batch.append(
            Pending(
                result: r, file: file, receivedUnixUs: receivedUnixUs,
                entry: ShardLog.Entry(shard: shard, latents: npy, labels: labelBytes, json: json)))
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
        guard r.batchSeconds.count <= max(n, 1), r.batchSeconds.allSatisfy(ok), ok(r.timings), ok(r.queueWaitSeconds)
        else { return false }
        return r.batchTimings.isEmpty || (r.batchTimings.count == r.batchSeconds.count && r.batchTimings.allSatisfy(ok))
    }

    /// True when every little-endian float32 in `bytes` is finite.
    static func allFinite(_ bytes: Data) -> Bool {
        bytes.withUnsafeBytes { raw -> Bool in
            var i = 0
            while i + 4 <= raw.count {
                let bits =
                    UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24
                if bits & 0x7F80_0000 == 0x7F80_0000 { return false }  // exponent all ones: Inf or NaN
                i += 4
            }
            return true
        }
    }

    /// Tells the coordinator about a refused result over the commit channel.
    func report(_ push: ZMQSocket, shard: Int, lease: UInt64, worker: String, message: String, fatal: Bool) {
        var e = Flowturbo_V1_Error()
        e.shardID = UInt64(shard)
        e.leaseID = lease
        e.workerID = worker
        e.message = message
        e.fatal = fatal
        var env = Flowturbo_V1_Envelope()
        env.error = e
        if let b = try? env.serializedBytes() as [UInt8] { try? push.send(b) }
        if fatal { FileHandle.standardError.write(Data("aggregator: \(message)\n".utf8)) }
    }
}
