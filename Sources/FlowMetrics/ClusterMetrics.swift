import FlowCluster
import FlowStats
import Foundation
import Prometheus

/// The Prometheus view of a running coordinator: one registry (swift-prometheus) fed by the coordinator's control loop
/// (`observe`) and by the aggregator as results arrive (`stageLatency`); `exposition()` is the text served at `/metrics`.
///
/// Counters follow the coordinator's own counters (each observation adds the growth since the previous one), so a
/// scrape shows exactly what the progress line and `report.json` count.
public final class ClusterMetrics: RunObserver, @unchecked Sendable {
    /// Upper bounds (seconds) of the stage latency buckets: 0.5 ms … 10 min (a batch of a large model on one core).
    public static let latencyBuckets: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
    ]

    /// The registry behind `exposition()` (other collectors may be added to it).
    public let registry = PrometheusCollectorRegistry()
    private let shardsTotal: Gauge
    private let samplesTotal: Gauge
    private let workersAlive: Gauge
    private let shardsCommitted: Counter
    private let samplesCommitted: Counter
    private let requeues: Counter
    private let bannedWorkers: Counter
    private let droppedFrames: Counter
    private let stages: [LatencyStage: ValueHistogram]
    private let lock = NSLock()
    private var last = RunSnapshot()

    /// Registers every flowturbo metric (all zero until the first observation).
    public init() {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "flowturbo", metricName: metric, unitName: unit, helpText: help)
        }
        shardsTotal = registry.makeGauge(descriptor: name("shards", "", "Shards of the run this coordinator computes."))
        samplesTotal = registry.makeGauge(descriptor: name("samples", "total", "Samples of the run (its size)."))
        workersAlive = registry.makeGauge(
            descriptor: name("workers", "alive", "Workers heard from within the liveness window."))
        shardsCommitted = registry.makeCounter(
            descriptor: name("shards_committed", "total", "Shards durably written and journaled (incl. resumed)."))
        samplesCommitted = registry.makeCounter(
            descriptor: name("samples_committed", "total", "Samples in committed shards (incl. resumed)."))
        requeues = registry.makeCounter(
            descriptor: name("requeues", "total", "Leases put back in the queue (dead worker, expiry, bad result)."))
        bannedWorkers = registry.makeCounter(
            descriptor: name("banned_workers", "total", "Workers told to shut down and ignored."))
        droppedFrames = registry.makeCounter(
            descriptor: name("dropped_frames", "total", "Malformed or oversized control frames dropped."))
        var stages: [LatencyStage: ValueHistogram] = [:]
        let latency = name("stage_latency", "seconds", "Per-stage latency reported with each result (report.json).")
        for stage in LatencyStage.allCases {
            stages[stage] = registry.makeValueHistogram(
                descriptor: latency, labels: [("stage", stage.rawValue)], buckets: Self.latencyBuckets)
        }
        self.stages = stages
    }

    /// Sets the gauges and adds each counter's growth since the previous observation.
    public func observe(_ s: RunSnapshot) {
        lock.lock()
        defer { lock.unlock() }
        shardsTotal.set(Int64(s.shardsTotal))
        samplesTotal.set(Int64(s.samplesTotal))
        workersAlive.set(Int64(s.workersAlive))
        func grow(_ counter: Counter, _ now: Int, _ before: Int) {
            if now > before { counter.increment(by: Int64(now - before)) }
        }
        grow(shardsCommitted, s.shardsCommitted, last.shardsCommitted)
        grow(samplesCommitted, s.samplesCommitted, last.samplesCommitted)
        grow(requeues, s.requeues, last.requeues)
        grow(bannedWorkers, s.bannedWorkers, last.bannedWorkers)
        grow(droppedFrames, s.droppedFrames, last.droppedFrames)
        last.shardsCommitted = max(last.shardsCommitted, s.shardsCommitted)
        last.samplesCommitted = max(last.samplesCommitted, s.samplesCommitted)
        last.requeues = max(last.requeues, s.requeues)
        last.bannedWorkers = max(last.bannedWorkers, s.bannedWorkers)
        last.droppedFrames = max(last.droppedFrames, s.droppedFrames)
    }

    /// Records `count` observations of `seconds` in the stage's histogram (non-finite or negative values are skipped).
    public func stageLatency(_ stage: LatencyStage, seconds: Double, count: Int) {
        guard seconds.isFinite, seconds >= 0, let h = stages[stage] else { return }
        for _ in 0..<max(0, min(count, 1 << 16)) { h.record(seconds) }
    }

    /// The Prometheus text exposition format (version 0.0.4) of every metric.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
