import Foundation

/// Everything the scheduler knows about one control connection (routing identity): one record instead of a
/// dictionary per fact.
///
/// A record is created by the first message of a routing identity and kept after the peer expires or is banned:
/// its counters (malformed messages, lease errors, NaN/Inf results) and its CURVE key outlive a reconnect with
/// the same identity, as they did when each lived in its own dictionary.
struct Peer: Equatable {
    /// Worker id of its last accepted hello; nil before one.
    var workerID: String?
    /// CURVE public key (ZAP User-Id) of its first authenticated message; nil without keys.
    var key: String?
    /// Last control message (hello, work request, heartbeat or error) from it while admitted.
    var lastSeen = Date.distantPast
    /// Admitted by a hello and neither expired, refused nor banned since: it may hold leases.
    var live = false
    /// Waiting for work (nothing to lease it, or at its in-flight limit).
    var idle = false
    /// Told to shut down; its control messages are dropped from then on.
    var banned = false
    /// Undecodable, oversized or misplaced control messages so far (reset by a ban).
    var malformed = 0
    /// Non-fatal errors about its own leases so far.
    var leaseErrors = 0
    /// Results with NaN/Inf latents so far (reset by a ban).
    var nonFinite = 0

    /// The worker id while the peer is live (what a ban or an audit names), else nil.
    var liveWorkerID: String? { live ? workerID : nil }
}
