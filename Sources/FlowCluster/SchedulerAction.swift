import FlowProto
import Foundation

/// What the I/O shell (`Coordinator`) does for the `Scheduler`, in the order given.
enum SchedulerAction: Equatable {
    /// Answer an admitted hello with the Welcome (data port, heartbeat contract, run id).
    case welcome([UInt8])
    /// Send Shutdown with this reason (`refused`: the peer must not come back as it is).
    case shutdown([UInt8], reason: String, refused: Bool)
    /// Ask a peer the scheduler does not know (e.g. after a coordinator restart) to say hello again.
    case askHello([UInt8])
    case heartbeat([UInt8])
    /// Record lease `leaseID` of `shard` for `holder` in the lease book (with a fresh token) and send its
    /// assignment; `backup`: a second lease of a shard whose first holder takes too long.
    case lease(shard: Int, leaseID: UInt64, holder: [UInt8], backup: Bool)
    /// Revoke every lease of `holder` in the lease book: its results are refused from now on.
    case revoke([UInt8])
    /// Nobody else can confirm this audited shard: its next result is written as it is.
    case waiveAudit(Int)
    /// End the run with this error.
    case fail(String)
}

/// The limits and timings the scheduler enforces (a subset of `CoordinatorConfig`, so policy tests need no
/// eval set or sockets).
struct SchedulerLimits {
    var models: [Flowturbo_V1_ModelDigest] = []
    var heartbeatSeconds = 1.0
    var liveness = 3
    var leaseSeconds = 600.0
    var maxInFlightPerWorker = 2
    var maxNonFiniteResultsPerWorker = 3
    var maxMalformedPerPeer = 16
    var noProgressSeconds = 15.0
    var backupAfterSeconds = 30.0

    /// The defaults of `CoordinatorConfig`.
    init() {}

    /// The limits of a run configuration.
    init(_ config: CoordinatorConfig) {
        models = config.models
        heartbeatSeconds = Double(config.heartbeatIntervalMs) / 1000
        liveness = config.liveness
        leaseSeconds = config.leaseSeconds
        maxInFlightPerWorker = config.maxInFlightPerWorker
        maxNonFiniteResultsPerWorker = config.maxNonFiniteResultsPerWorker
        maxMalformedPerPeer = config.maxMalformedPerPeer
        noProgressSeconds = config.noProgressSeconds
        backupAfterSeconds = config.backupAfterSeconds
    }
}

/// What the shell knows about audits when the scheduler checks them: events the aggregator's `AuditBook`
/// raised since the last check, and the held results of a still-pending audited shard (nil: not pending).
struct AuditView {
    var events: [AuditBook.Event]
    var candidates: (Int) -> Int?
}
