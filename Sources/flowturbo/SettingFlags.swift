import FlowTensor

// The CLI's spelling of the settings the libraries name in their errors: each `Setting` is the flag a user types.
// `main.swift` installs it as the process's `Setting.naming`, so every message the CLI prints (and every reason a
// `flowturbo worker` or coordinator sends to another process) quotes flags, while the libraries never name them.

extension Setting {
    /// The command-line flag of the setting.
    var flag: String {
        switch self {
        case .categoryWeights: return "--category-weights"
        case .initFrom: return "--init"
        case .out: return "--out"
        case .resume: return "--resume"
        case .overwrite: return "--overwrite"
        case .part: return "--part"
        case .exportNPZ: return "--export-npz"
        case .bind: return "--bind"
        case .dataBind: return "--data-bind"
        case .curveSecret: return "--curve-secret"
        case .curveServerKey: return "--curve-server-key"
        case .allowList: return "--allow"
        case .insecure: return "--insecure"
        case .name: return "--name"
        case .samples: return "--samples"
        case .batch: return "--batch"
        case .imagesPerPrompt: return "--images-per-prompt"
        case .prompts: return "--prompts"
        case .labels: return "--labels"
        case .refinerStep: return "--refiner-step"
        case .shardSize: return "--shard-size"
        case .reference: return "--reference"
        case .features: return "--features"
        case .projectionDimension: return "--projection-dim"
        case .maxMessageMB: return "--max-message-mb"
        case .maxShardMB: return "--max-shard-mb"
        case .maxInFlight: return "--max-in-flight"
        case .audit: return "--audit"
        case .progressInterval: return "--progress-interval"
        case .logLevel: return "--log-level"
        case .metrics: return "--metrics"
        case .metricsAllowRemote: return "--metrics-allow-remote"
        case .model: return "--model"
        case .refiner: return "--refiner"
        case .predictor: return "--predictor"
        case .heads: return "--heads"
        case .v: return "--v"
        case .maxSteps: return "--max-steps"
        case .rtol: return "--rtol"
        case .atol: return "--atol"
        case .checkpoint: return "--checkpoint"
        case .checkpointEvery: return "--checkpoint-every"
        case .depth: return "--depth"
        case .width: return "--width"
        case .data: return "--data"
        }
    }
}
