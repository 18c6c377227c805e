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
}
