import Histogram

/// Pipeline stages whose latency is recorded.
public enum LatencyStage: String, CaseIterable, Codable, Sendable {
    case queueWait = "queue_wait"
    case textEncoder = "text_encoder"
    case predictor, refiner
    case solverUpdate = "solver_update"
    case transfer, total
}

/// Latency histograms (HdrHistogram, microseconds, 3 significant digits) per stage and per worker,
/// a samples-completed timeline for throughput, and NFE per sample. Mergeable by `merge`.
public struct LatencyRecorder: Codable, Sendable {
    /// Per stage, all workers.
    public private(set) var stages: [LatencyStage: Histogram<UInt64>] = [:]
    /// Per worker id, the `total` stage.
    public private(set) var workers: [String: Histogram<UInt64>] = [:]
    /// Samples completed per one-second bucket since the run started (index = second).
    public private(set) var completedPerSecond: [Int] = []
    /// Σ NFE over samples and number of samples, for NFE per sample.
    public private(set) var nfeTotal: Int = 0, nfeSamples: Int = 0

    /// An empty recorder.
    public init() {}

    static func newHistogram() -> Histogram<UInt64> {
        var h = Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        h.autoResize = true
        return h
    }

    /// Records one latency of `seconds` for `stage` (and, for `.total`, for `worker`).
    public mutating func record(_ stage: LatencyStage, seconds: Double, worker: String? = nil, count: Int = 1) {
        // Clamped to [1 µs, 10⁶ s] (NaN → 1 µs): the histogram's range, and no trap on absurd input.
        let us =
            seconds.isFinite
            ? UInt64(Swift.min(1e12, Swift.max(1, (seconds * 1e6).rounded()))) : (seconds > 0 ? 1_000_000_000_000 : 1)
        var h = stages[stage] ?? Self.newHistogram()
        _ = h.record(us, count: UInt64(count))
        stages[stage] = h
        if let w = worker, stage == .total {
            var hw = workers[w] ?? Self.newHistogram()
            _ = hw.record(us, count: UInt64(count))
            workers[w] = hw
        }
    }

    /// Records `samples` completions at `secondsSinceStart`, with their total NFE.
    public mutating func complete(samples: Int, at secondsSinceStart: Double, nfe: Int) {
        let b = Swift.max(0, Int(secondsSinceStart))
        if completedPerSecond.count <= b {
            completedPerSecond += [Int](repeating: 0, count: b + 1 - completedPerSecond.count)
        }
        completedPerSecond[b] += samples
        nfeTotal += nfe
        nfeSamples += samples
    }

    /// Adds another recorder's histograms, timeline and NFE counts.
    public mutating func merge(_ o: LatencyRecorder) {
        for (s, h) in o.stages {
            var m = stages[s] ?? Self.newHistogram()
            m.add(h)
            stages[s] = m
        }
        for (w, h) in o.workers {
            var m = workers[w] ?? Self.newHistogram()
            m.add(h)
            workers[w] = m
        }
        if completedPerSecond.count < o.completedPerSecond.count {
            completedPerSecond += [Int](repeating: 0, count: o.completedPerSecond.count - completedPerSecond.count)
        }
        for (i, c) in o.completedPerSecond.enumerated() { completedPerSecond[i] += c }
        nfeTotal += o.nfeTotal
        nfeSamples += o.nfeSamples
    }

    /// Mean NFE per sample (0 when nothing completed).
    public var nfePerSample: Double { nfeSamples == 0 ? 0 : Double(nfeTotal) / Double(nfeSamples) }

    /// p50/p90/p99/max in milliseconds of a stage, or nil when nothing was recorded.
    public func summary(_ stage: LatencyStage) -> LatencySummary? {
        guard let h = stages[stage], h.totalCount > 0 else { return nil }
        return LatencySummary(h)
    }
}

/// Percentiles of one histogram, in milliseconds.
public struct LatencySummary: Codable, Sendable, Equatable {
    /// Percentiles, maximum and mean in ms; number of recorded values.
    public var p50: Double, p90: Double, p99: Double, max: Double, mean: Double, count: Int
    /// Summarises an HdrHistogram recorded in microseconds.
    public init(_ h: Histogram<UInt64>) {
        p50 = Double(h.valueAtPercentile(50)) / 1000
        p90 = Double(h.valueAtPercentile(90)) / 1000
        p99 = Double(h.valueAtPercentile(99)) / 1000
        max = Double(h.max) / 1000
        mean = h.mean / 1000
        count = Int(h.totalCount)
    }
}
