import FlowTensor

/// What conditions the samples of one `SamplingProgram.sample(…)` call.
public enum SampleConditions {
    /// One class label per sample.
    case labels([Int32])
    /// Caption token features (rows, length, C) and mask (rows, length), non-zero = real token; sample k of the
    /// call uses caption row k mod rows.
    case captions(features: [Float], mask: [Int32], length: Int, rows: Int)
}

/// One finished batch of `SamplingProgram.sample(…)`.
public struct SampledBatch {
    /// First sample of the batch, counted from the call's `firstIndex`.
    public let offset: Int
    /// Samples in the batch.
    public let count: Int
    /// The program's timings and model calls for the batch.
    public let stats: RunStats
    /// Wall seconds of the batch (the run call, caption gathering included).
    public let seconds: Double
}

extension SamplingProgram {
    /// Samples global indices firstIndex ..< firstIndex + count in runs of at most `batch` samples (the batch the
    /// program was compiled for), writing count × sampleSize floats to `out`; `afterBatch` sees each finished batch
    /// (`nfe(ofRow:)` then describes its rows). The one batch loop of the sample command, the worker and the benches.
    public func sample(
        seed: UInt64, firstIndex: Int = 0, count: Int, batch: Int, conditions: SampleConditions,
        out: UnsafeMutablePointer<Float>, afterBatch: (SampledBatch) throws -> Void = { _ in }
    ) throws {
        precondition(batch > 0, "SamplingProgram.sample: batch must be ≥ 1")
        let s = sampleShape.reduce(1, *)
        var done = 0
        while done < count {
            let c = min(batch, count - done)
            let t0 = Clock.now()
            let stats: RunStats
            switch conditions {
            case .labels(let labels):
                precondition(labels.count >= count, "SamplingProgram.sample: \(labels.count) labels for \(count)")
                stats = try labels.withUnsafeBufferPointer { lb in
                    try run(
                        seed: seed, firstIndex: firstIndex + done, count: c, labels: lb.baseAddress! + done,
                        out: out + done * s)
                }
            case .captions(let features, let mask, let length, let rows):
                stats = try runCaptions(
                    seed: seed, firstIndex: firstIndex + done, count: c, offset: done,
                    captions: (features, mask, length, rows), out: out + done * s)
            }
            try afterBatch(SampledBatch(offset: done, count: c, stats: stats, seconds: Clock.now() - t0))
            done += c
        }
    }

    /// One run on caption rows offset ..< offset + count (mod rows): in place when they do not wrap, else gathered.
    private func runCaptions(
        seed: UInt64, firstIndex: Int, count: Int, offset: Int,
        captions: (features: [Float], mask: [Int32], length: Int, rows: Int),
        out: UnsafeMutablePointer<Float>
    ) throws -> RunStats {
        let (features, mask, l, rows) = captions
        precondition(rows > 0 && l > 0, "SamplingProgram.sample: captions need rows and tokens")
        let c = features.count / (rows * l)
        let first = offset % rows
        var f = features
        var m = mask
        var row0 = first
        if first + count > rows {
            f = []
            m = []
            f.reserveCapacity(count * l * c)
            m.reserveCapacity(count * l)
            for i in offset..<(offset + count) {
                let r = i % rows
                f += features[(r * l * c)..<((r + 1) * l * c)]
                m += mask[(r * l)..<((r + 1) * l)]
            }
            row0 = 0
        }
        return try f.withUnsafeBufferPointer { fp in
            try m.withUnsafeBufferPointer { mp in
                try run(
                    seed: seed, firstIndex: firstIndex, count: count,
                    captions: CaptionInput(
                        features: fp.baseAddress! + row0 * l * c, mask: mp.baseAddress! + row0 * l,
                        length: l),
                    out: out)
            }
        }
    }
}
