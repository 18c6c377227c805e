import Foundation

/// Every lease the coordinator issued, shared with the aggregator's thread: it decides which results
/// may be written.
///
/// A lease is (shard, lease id, 16-byte random token, holder). The token travels only in the holder's
/// `ShardAssignment` (over CURVE when keys are in use) and must come back in the `ShardResult`; lease ids
/// are sequential and public, so they prove nothing on their own. With CURVE the result must also come
/// from the holder's key (the ZAP User-Id of the data connection). Leases stay valid after a re-queue
/// (a slow holder's result is still right: sampling is bit-reproducible) until their holder is banned.
public final class LeaseBook {
    /// One issued lease.
    public struct Lease: Equatable {
        public let id: UInt64
        public let shard: Int
        public let token: [UInt8]
        /// Routing identity of the holder on the control socket.
        public let holder: [UInt8]
        /// CURVE public key (Z85) of the holder; nil without keys.
        public let key: String?
        public var revoked = false
    }

    /// Outcome of checking a result against the book.
    public enum Verdict: Equatable {
        case accepted(Lease)
        /// No lease with this id was issued for this shard (forged or guessed lease id).
        case unknownLease
        /// The lease exists but the token differs (a peer that never received the assignment).
        case wrongToken
        /// Right lease and token from a connection authenticated with another key.
        case wrongPeer
        /// The lease's holder was banned after it was issued.
        case revoked
    }

    /// Bytes of a lease token.
    public static let tokenBytes = 16

    private let lock = NSLock()
    private var leases: [UInt64: Lease] = [:]
    private var nextID: UInt64 = 1

    /// An empty book.
    public init() {}

    /// Issues a new lease of `shard` to `holder` with the next free id and a fresh random token.
    public func issue(shard: Int, holder: [UInt8], key: String?) -> Lease {
        lock.lock()
        let id = nextID
        lock.unlock()
        return issue(id: id, shard: shard, holder: holder, key: key)
    }

    /// Issues lease `id` (chosen by the coordinator's scheduler) of `shard` to `holder` with a fresh random token
    /// (the system CSPRNG).
    public func issue(id: UInt64, shard: Int, holder: [UInt8], key: String?) -> Lease {
        var rng = SystemRandomNumberGenerator()
        let token = (0..<LeaseBook.tokenBytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
        lock.lock()
        defer { lock.unlock() }
        let lease = Lease(id: id, shard: shard, token: token, holder: holder, key: key)
        leases[id] = lease
        nextID = max(nextID, id + 1)
        return lease
    }

    /// Checks a result's (shard, lease id, token) and the key its data connection authenticated with.
    public func verify(shard: Int, leaseID: UInt64, token: Data, peerKey: String?) -> Verdict {
        lock.lock()
        let found = leases[leaseID]
        lock.unlock()
        guard let lease = found, lease.shard == shard else { return .unknownLease }
        guard LeaseBook.equalInConstantTime(lease.token, token) else { return .wrongToken }
        if let key = lease.key, key != peerKey { return .wrongPeer }
        return lease.revoked ? .revoked : .accepted(lease)
    }

    /// The lease with this id, if it was issued.
    public func lease(_ id: UInt64) -> Lease? {
        lock.lock()
        defer { lock.unlock() }
        return leases[id]
    }

    /// Revokes every lease held by `holder` (a banned worker): its results are refused from now on.
    public func revoke(holder: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        for (id, l) in leases where l.holder == holder { leases[id]!.revoked = true }
    }

    /// Compares without an early exit, so the time taken does not tell how many leading bytes matched.
    static func equalInConstantTime(_ a: [UInt8], _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}
