import FlowTensor

/// Why the application layer refused a run's settings. The cases carry the settings and values involved, not
/// messages: a front end words them (the CLI quotes its flags); `description` spells settings with `Setting.naming`.
public enum RunSettingError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Two settings that exclude each other were both given.
    case conflicting(Setting, Setting)
    /// `setting` (with `value`) only applies together with `requires`.
    case needs(Setting, value: String, requires: Setting)
    /// A whole-run output requested for one part of a run.
    case wholeRunOnly(Setting)
    /// A count below its minimum of 1.
    case belowOne(Setting, value: Int)
    /// A limit (message size, shard size, leases per worker) below 1.
    case limitBelowOne
    /// The audit fraction is not in 0…1.
    case auditFraction(Double)
    /// The progress interval is not a positive number of seconds.
    case progressInterval(Double)
    /// A feature space name outside raw, random-projection and classifier[:PATH].
    case unknownFeatureSpace(String)
    /// The classifier file a feature space names does not exist.
    case classifierMissing(features: String, path: String)
    /// The classifier feature space reads `expected` values per sample, the set has `got`.
    case classifierInput(expected: Int, got: Int)
    /// A local run's control endpoint is reachable from other hosts.
    case localRunNotLoopback(endpoint: String)
    /// An endpoint reachable from other hosts without keys and without an explicit opt-out.
    case exposedWithoutKeys(endpoint: String)
    /// Only one half of the key pair (own secret key, allowed peer keys) was given.
    case keysIncomplete

    public var description: String {
        switch self {
        case .conflicting(let a, let b): return "\(a) and \(b) contradict each other; pick one"
        case .needs(let s, let value, let r): return "\(s) \(value) applies only together with \(r)"
        case .wholeRunOnly(let s): return "\(s) covers the whole run; request it when merging the parts"
        case .belowOne(let s, let v): return "\(s) must be ≥ 1 (got \(v))"
        case .limitBelowOne: return "message size, shard size and leases in flight must be ≥ 1"
        case .auditFraction(let f): return "audit fraction \(f): expected a fraction of shards between 0 and 1"
        case .progressInterval(let s): return "progress interval \(s): expected seconds > 0"
        case .unknownFeatureSpace(let n):
            return "feature space \(n): expected raw, random-projection or classifier[:PATH]"
        case .classifierMissing(let f, let p): return "feature space \(f): classifier file \(p) not found"
        case .classifierInput(let e, let g):
            return "the classifier feature space takes \(e)-value images (1×28×28 MNIST), got D = \(g)"
        case .localRunNotLoopback(let e): return "\(e): a local run serves only its own workers on loopback"
        case .exposedWithoutKeys(let e): return "\(e) is reachable from other hosts but no keys were given"
        case .keysIncomplete: return "the secret key and the allowed peer keys go together"
        }
    }
}
