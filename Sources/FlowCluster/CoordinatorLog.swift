import Foundation
import Logging

/// What the coordinator's log has reported so far: the shell compares the scheduler's live peers and requeue count
/// with it once per control-loop pass and logs the differences.
struct CoordinatorLogState {
    var live: Set<[UInt8]> = []
    /// The scheduler's `liveChanges` when `live` was taken (unchanged: nothing to compare).
    var liveChanges = 0
    var requeues = 0
}

extension Coordinator {
    /// The coordinator's diagnostics (swift-log, label `flowturbo.coordinator`): workers joining, refused, banned or
    /// presumed dead, leases revoked or put back in the queue.
    var log: Logger { Logger(label: "flowturbo.coordinator") }

    /// Metadata naming the worker behind routing id `id` (its worker id from its hello, when it said one).
    func workerMetadata(_ id: [UInt8]) -> Logger.Metadata {
        ["worker": "\(scheduler.peers[id]?.workerID ?? "?")"]
    }

    /// Logs what a performed scheduler action means for an operator (refusals, bans, revoked leases).
    func logAction(_ action: SchedulerAction) {
        switch action {
        case .shutdown(let id, let reason, let refused) where refused:
            log.warning("refused: \(reason)", metadata: workerMetadata(id))
        case .revoke(let id):
            log.warning("leases revoked", metadata: workerMetadata(id))
        default:
            break
        }
    }

    /// Logs workers that joined or went silent and leases re-queued since the last call.
    func logTransitions() {
        if scheduler.liveChanges != logState.liveChanges {
            let live = scheduler.liveRoutes
            logState.liveChanges = scheduler.liveChanges
            for id in live.subtracting(logState.live) {
                log.info("worker joined", metadata: workerMetadata(id))
            }
            let deadAfter = Int(scheduler.limits.heartbeatSeconds * Double(scheduler.limits.liveness) * 1000)
            for id in logState.live.subtracting(live) where scheduler.peers[id]?.banned != true {
                log.warning("worker silent for over \(deadAfter) ms: presumed dead", metadata: workerMetadata(id))
            }
            logState.live = live
        }
        let requeues = scheduler.summary.requeues
        if requeues > logState.requeues {
            log.info("leases requeued", metadata: ["count": "\(requeues - logState.requeues)", "total": "\(requeues)"])
            logState.requeues = requeues
        }
    }
}
