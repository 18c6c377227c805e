import FlowProto
import FlowSampler
import Foundation

extension Worker {
    /// Runs one shard batch by batch and returns the serialized result envelope.
    static func compute(_ a: Flowturbo_V1_ShardAssignment, program: ShardProgram, workerID: String,
                        batchDelayMs: Int = 0, poison: Bool = false, queueWaitSeconds: Double = 0) -> [UInt8] {
        let n = Int(a.count), batch = Int(a.batch), first = Int(a.firstIndex)
        let shape = program.sampleShape
        let s = shape.reduce(1, *)
        var latents = [Float](repeating: 0, count: n * s)
        let labels = a.labels.isEmpty ? [Int32](repeating: 0, count: n) : a.labels
        var nfe = [UInt32](repeating: 0, count: n)
        var r = Flowturbo_V1_ShardResult()
        let t0 = Date()
        latents.withUnsafeMutableBufferPointer { out in
            labels.withUnsafeBufferPointer { lab in
                var b = 0
                while b < n {
                    let c = min(batch, n - b)
                    let tb = Date()
                    let st = program.run(seed: a.seed, firstIndex: first + b, count: c, labels: lab.baseAddress! + b,
                                         out: out.baseAddress! + b * s)
                    r.batchSeconds.append(Date().timeIntervalSince(tb))
                    r.timings.predictorSeconds += st.predictorSeconds
                    r.timings.refinerSeconds += st.refinerSeconds
                    r.timings.solverSeconds += st.solverSeconds
                    var bt = Flowturbo_V1_StageTimings()
                    bt.predictorSeconds = st.predictorSeconds
                    bt.refinerSeconds = st.refinerSeconds
                    bt.solverSeconds = st.solverSeconds
                    r.batchTimings.append(bt)
                    for i in 0..<c { nfe[b + i] = UInt32(program.nfe(ofRow: i)) }
                    b += c
                    if batchDelayMs > 0 { usleep(UInt32(batchDelayMs) * 1000) }
                }
            }
        }
        r.timings.totalSeconds = Date().timeIntervalSince(t0)
        r.queueWaitSeconds = queueWaitSeconds
        r.finishedUnixUs = Int64(Date().timeIntervalSince1970 * 1e6)
        r.shardID = a.shardID; r.leaseID = a.leaseID; r.leaseToken = a.leaseToken; r.workerID = workerID
        r.firstIndex = a.firstIndex; r.count = a.count
        r.shape = ([n] + shape).map { UInt32($0) }
        if poison && !latents.isEmpty { latents[latents.count / 2] = .nan }
        r.latents = latents.withUnsafeBytes { Data($0) }   // little-endian float32 on every supported host
        r.labels = a.labels
        r.nfe = nfe
        var e = Flowturbo_V1_Envelope(); e.result = r
        return (try? e.serializedBytes()) ?? []
    }
}
