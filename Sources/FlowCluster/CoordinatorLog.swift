import Foundation
import Logging

extension Coordinator {
    /// The coordinator's diagnostics (swift-log, label `flowturbo.coordinator`): workers joining, refused, banned or
    /// presumed dead, and leases put back in the queue.
    var log: Logger { Logger(label: "flowturbo.coordinator") }

    /// Metadata naming the worker behind routing id `id` (its claimed worker id, when it said hello).
    func workerMetadata(_ id: [UInt8], claimed: String? = nil) -> Logger.Metadata {
        ["worker": "\(claimed ?? workers[id]?.id ?? "?")"]
    }
}
