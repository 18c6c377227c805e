import FlowCluster
import FlowProto
import FlowTensor
import Foundation

/// Lease-forging inputs for the data port of the `frames` fuzz target, and the check that none of them
/// was ever written.
///
/// Every forgery carries poisoned latents (zeros, or a NaN that would get the lease's real holder banned)
/// for a shard that really is leased, with one credential wrong: the token (random, flipped, empty, another
/// lease's), the lease id (sequential neighbours, 424242, extremes), or — in CURVE sessions — the right
/// lease id and token sent from a connection authenticated with another allow-listed key.
enum FuzzLeases {
    /// Kinds of forgery, for the session notes.
    enum Kind: String, CaseIterable { case wrongToken, wrongLeaseID, stolenToken }

    /// A forged result against one of `held` (the leases of an honest peer). `stolen` forgeries must be sent
    /// from another key by the caller; without CURVE they are turned into wrong-token forgeries.
    static func forge(
        _ held: [Flowturbo_V1_ShardAssignment], evalSet: EvalSet, curve: Bool,
        rng: inout FuzzMutator
    ) -> (result: Flowturbo_V1_ShardResult, kind: Kind)? {
        guard !held.isEmpty else { return nil }
        let a = held[rng.below(held.count)]
        var r = FuzzCorpus.result(shard: Int(a.shardID), evalSet: evalSet, workerID: "forger")
        var floats = [Float](repeating: 0, count: r.latents.count / 4)
        if rng.below(4) == 0 { floats[rng.below(floats.count)] = .nan }
        r.latents = floats.withUnsafeBytes { Data($0) }
        r.leaseID = a.leaseID
        r.leaseToken = a.leaseToken
        var kind = Kind.allCases[rng.below(Kind.allCases.count)]
        if kind == .stolenToken && !curve { kind = .wrongToken }
        switch kind {
        case .wrongToken:
            switch rng.below(4) {
            case 0: r.leaseToken = Data((0..<LeaseBook.tokenBytes).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            case 1: if !r.leaseToken.isEmpty { r.leaseToken[rng.below(r.leaseToken.count)] ^= 1 << UInt8(rng.below(8)) }
            case 2: r.leaseToken = Data()
            default:
                // Another lease's token (right token, wrong lease).
                let other = held[rng.below(held.count)]
                r.leaseToken = other.leaseID == a.leaseID ? Data(a.leaseToken.reversed()) : other.leaseToken
            }
        case .wrongLeaseID:
            let guesses: [UInt64] = [
                a.leaseID &+ 1, a.leaseID &- 1, 424242, 0, 1, UInt64.max,
                a.leaseID &+ UInt64(1 + rng.below(64)),
            ]
            let wrong = guesses.filter { $0 != a.leaseID }  // the right id with the right token is no forgery
            r.leaseID = wrong[rng.below(wrong.count)]
            if rng.below(2) == 0 { r.leaseToken = Data() }
        case .stolenToken:
            break
        }
        return (r, kind)
    }

    /// Committed shards of the run in `dir` whose latents differ from the genuine corpus values (a forgery
    /// that got through), and how many were checked.
    static func poisonedShards(dir: String, evalSet: EvalSet) -> (checked: Int, poisoned: [Int]) {
        guard let journal = try? Journal.read(dir + "/journal.log") else { return (0, []) }
        var poisoned: [Int] = []
        var checked = 0
        for c in journal.commits {
            checked += 1
            let genuine = FuzzCorpus.result(shard: c.shard, evalSet: evalSet).latents
            let written = try? NPY.read(dir + "/" + c.file)
            if written?.bytes != [UInt8](genuine) { poisoned.append(c.shard) }
        }
        return (checked, poisoned)
    }
}
