import FlowProto
import FlowSampler
import Foundation

extension Worker {
    /// Runs one shard batch by batch and returns the serialized result envelope.
    ///
    /// A prompt shard (`a.evalSet.prompts`, one per sample) first gets its caption features from `captions`
    /// (timed as the `text_encoder` stage); class shards use `a.labels`.
    static func compute(
        _ a: Flowturbo_V1_ShardAssignment, program: ShardProgram, workerID: String,
        batchDelayMs: Int = 0, poison: Bool = false, queueWaitSeconds: Double = 0,
        captions: (([String]) throws -> ShardCaptions)? = nil
    ) throws -> [UInt8] {
        let n = Int(a.count)
        let batch = Int(a.batch)
        let first = Int(a.firstIndex)
        let shape = program.sampleShape
        let s = shape.reduce(1, *)
        var latents = [Float](repeating: 0, count: n * s)
        let labels = a.labels.isEmpty ? [Int32](repeating: 0, count: n) : a.labels
        var nfe = [UInt32](repeating: 0, count: n)
        var r = Flowturbo_V1_ShardResult()
        let t0 = Date()
        var text: ShardCaptions?
        if !a.evalSet.prompts.isEmpty, let encode = captions {
            text = try encode(a.evalSet.prompts)  // features (n, L, C), mask (n, L)
            r.timings.textEncoderSeconds = max(Date().timeIntervalSince(t0), 1e-6)
        }
        let conditions: SampleConditions =
            text.map {
                .captions(features: $0.features, mask: $0.mask, length: $0.length, rows: n)
            } ?? .labels(labels)
        try latents.withUnsafeMutableBufferPointer { out in
            try program.sample(
                seed: a.seed, firstIndex: first, count: n, batch: batch, conditions: conditions,
                out: out.baseAddress!
            ) { b in
                r.batchSeconds.append(b.seconds)
                r.timings.predictorSeconds += b.stats.predictorSeconds
                r.timings.refinerSeconds += b.stats.refinerSeconds
                r.timings.solverSeconds += b.stats.solverSeconds
                var bt = Flowturbo_V1_StageTimings()
                bt.predictorSeconds = b.stats.predictorSeconds
                bt.refinerSeconds = b.stats.refinerSeconds
                bt.solverSeconds = b.stats.solverSeconds
                r.batchTimings.append(bt)
                for i in 0..<b.count { nfe[b.offset + i] = UInt32(program.nfe(ofRow: i)) }
                if batchDelayMs > 0 { usleep(UInt32(batchDelayMs) * 1000) }
            }
        }
        r.timings.totalSeconds = Date().timeIntervalSince(t0)
        r.queueWaitSeconds = queueWaitSeconds
        r.finishedUnixUs = Int64(Date().timeIntervalSince1970 * 1e6)
        r.shardID = a.shardID
        r.leaseID = a.leaseID
        r.leaseToken = a.leaseToken
        r.workerID = workerID
        r.firstIndex = a.firstIndex
        r.count = a.count
        r.shape = ([n] + shape).map { UInt32($0) }
        if poison && !latents.isEmpty { latents[latents.count / 2] = .nan }
        r.latents = latents.withUnsafeBytes { Data($0) }  // little-endian float32 on every supported host
        r.labels = a.labels
        r.nfe = nfe
        var e = Flowturbo_V1_Envelope()
        e.result = r
        return (try? e.serializedBytes()) ?? []
    }
}
