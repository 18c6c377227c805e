import FlowStats
import Foundation

/// The live figures of a coordinator, as the progress line shows them, for an exporter such as Prometheus
/// (`FlowMetrics.ClusterMetrics`). Counts cover the shards this coordinator computes (its part, if any);
/// committed counts include shards found committed in the journal at `--resume`.
public struct RunSnapshot: Equatable, Sendable {
    /// Shards and samples of the run (this coordinator's share) and how many are committed.
    public var shardsTotal = 0, shardsCommitted = 0
    public var samplesTotal = 0, samplesCommitted = 0
    /// Workers that said hello and are not (yet) presumed dead, banned or refused.
    public var workersAlive = 0
    /// Leases given back to the queue (dead worker, expired lease, NaN/Inf result, error) so far.
    public var requeues = 0
    /// Workers told to shut down and ignored so far.
    public var bannedWorkers = 0
    /// Undecodable, malformed or oversized control frames so far.
    public var droppedFrames = 0

    /// All zero.
    public init() {}
}

/// Receives a running coordinator's figures: `observe` from the control loop (each iteration, ~10 Hz or more),
/// `stageLatency` from the aggregator thread as each result's stage timings are recorded (the same values that
/// go into `report.json`'s latency section). Implementations must be thread-safe.
public protocol RunObserver: AnyObject {
    /// The current figures (counters only grow during a run).
    func observe(_ snapshot: RunSnapshot)
    /// `count` values of `seconds` for `stage` (a shard's per-batch mean is recorded `count` times).
    func stageLatency(_ stage: LatencyStage, seconds: Double, count: Int)
}

extension Coordinator {
    /// The figures the progress line shows, plus the counters an operator alerts on (read it on the thread that calls
    /// `run()`, before or after it; during the run, `observer` receives it).
    public var snapshot: RunSnapshot {
        var s = RunSnapshot()
        s.shardsTotal = scheduler.ownedCount
        s.shardsCommitted = scheduler.ownedCount - scheduler.ownedLeft
        s.samplesTotal = scheduler.samplesOwned
        s.samplesCommitted = scheduler.samplesDone
        s.workersAlive = scheduler.liveRoutes.count
        s.requeues = scheduler.summary.requeues
        s.bannedWorkers = scheduler.summary.bannedWorkers
        s.droppedFrames = scheduler.summary.droppedFrames + scheduler.summary.oversizedFrames
        return s
    }
}
