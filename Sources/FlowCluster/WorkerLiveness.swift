import FlowProto
import Foundation
import Logging

extension Worker {
    /// This worker's logger (swift-log, label `flowturbo.worker`, metadata `worker`).
    var log: Logger {
        var logger = Logger(label: "flowturbo.worker")
        logger[metadataKey: "worker"] = "\(config.workerID)"
        return logger
    }

    /// Metadata naming an assignment's shard and lease.
    static func lease(shard: UInt64, lease: UInt64) -> Logger.Metadata {
        ["shard": "\(shard)", "lease": "\(lease)"]
    }

    /// Heartbeat interval and silence limit (seconds) after the coordinator's Welcome: heartbeats at least as often as
    /// the coordinator expects them, and the coordinator presumed gone only after its own liveness window has passed
    /// too (a coordinator started with a longer `--heartbeat-ms` must not make its workers reconnect in a loop).
    static func timing(config: WorkerConfig, welcome w: Flowturbo_V1_Welcome?) -> (heartbeat: Double, silence: Double) {
        let own = Double(config.heartbeatIntervalMs) / 1000
        guard let w = w, w.heartbeatIntervalMs > 0 else { return (own, own * Double(config.liveness)) }
        let theirs = Double(w.heartbeatIntervalMs) / 1000
        let theirLiveness = Double(max(w.liveness, 1))
        return (min(own, theirs), max(own * Double(config.liveness), theirs * theirLiveness))
    }
}
