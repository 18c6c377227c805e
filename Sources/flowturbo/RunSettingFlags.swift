import ArgumentParser
import FlowApp
import FlowCluster
import FlowSampler
import FlowTensor

// The CLI's half of the application layer's typed errors: each `RunSettingError` is worded here, quoting flags
// (`SettingFlags.swift`) and commands (the library never names them).

extension RefinerStep: ExpressibleByArgument {}
extension EvalSet.LabelMode: ExpressibleByArgument {}
extension RunExport.Format: ExpressibleByArgument {}

extension RunSettingError {
    /// The one-line message the CLI prints: the settings as flags, with the fix a user types.
    var cliMessage: String {
        switch self {
        case .conflicting(let a, let b):
            return "\(a.flag) and \(b.flag) contradict each other; pick one"
        case .needs(.features, let value, .reference):
            return "--features \(value) sets the metric space of --reference; add --reference STATS or drop --features"
        case .needs(.imagesPerPrompt, _, .prompts):
            return "--images-per-prompt applies to prompt runs; add --prompts FILE or drop it"
        case .needs(let s, let value, let r):
            return "\(s.flag) \(value) applies only together with \(r.flag); add \(r.flag) or drop \(s.flag)"
        case .wholeRunOnly(.exportNPZ):
            return "--export-npz writes the whole run's samples; pass it to `flowturbo merge` instead of to a part"
        case .wholeRunOnly(let s):
            return "\(s.flag) covers the whole run; pass it to `flowturbo merge` instead of to a part"
        case .belowOne(.projectionDimension, _):
            return "--projection-dim must be ≥ 1"
        case .belowOne(let s, let v):
            return "\(s.flag) must be ≥ 1 (got \(v))"
        case .limitBelowOne:
            return "--max-message-mb, --max-shard-mb and --max-in-flight must be ≥ 1"
        case .auditFraction(let f):
            return "--audit \(f): expected a fraction of shards between 0 and 1 (e.g. 0.05)"
        case .progressInterval(let s):
            return "--progress-interval \(s): expected seconds > 0 (e.g. 5)"
        case .unknownFeatureSpace(let name):
            return "--features \(name): expected raw, random-projection or classifier[:PATH]"
        case .classifierMissing(let name, let path):
            return "--features \(name): classifier file \(path) not found; train one with `flowturbo train-classifier` "
                + "or give classifier:PATH"
        case .classifierInput(let expected, let got):
            return "--features classifier takes \(expected)-value images (1×28×28 MNIST), got D = \(got)"
        case .localRunNotLoopback(let bind):
            return "--bind \(bind): `flowturbo run` serves only its local workers on loopback; for other hosts use "
                + "`flowturbo coordinator` with --curve-secret/--allow"
        case .exposedWithoutKeys(let endpoint):
            return "\(endpoint) is reachable from other hosts but no keys were given: anyone could join, read latents "
                + "or stop the run; pass --curve-secret KEY --allow WORKER_KEYS (`flowturbo keys generate --out keys`), "
                + "or --insecure on a trusted network"
        case .keysIncomplete:
            return
                "--curve-secret and --allow go together (the coordinator's secret key and the worker keys it accepts)"
        }
    }
}
