import ArgumentParser
import FlowCluster
import FlowSampler
import FlowTensor

// Every numeric flag of every command is range-checked here, before `run()` starts anything, against the
// named bounds in FlowTensor's `Bounds` (memory and sanity). swift-argument-parser calls `validate()` on
// each command and option group; a `FlowError` prints as one line `Error: …` with a failure exit.

extension ClusterRunOptions {
    func validate() throws {
        try Validate.count(samples, "--samples", 1...Bounds.maxSamples)
        try Validate.count(batch, "--batch", 1...Bounds.maxBatch)
        try Validate.count(shardSize, "--shard-size", 0...Bounds.maxSamples)
        try Validate.finite(cfg, "--cfg", -Bounds.maxGuidanceScale...Bounds.maxGuidanceScale)
        try Validate.count(cfgChannels, "--cfg-channels", 0...Bounds.maxModelWidth)
        try Validate.seconds(leaseSeconds, "--lease-seconds", 0.001...Bounds.maxSeconds)
        try Validate.count(projectionDim, "--projection-dim", 1...Bounds.maxFeatureDimension)
        try Validate.count(maxMessageMb, "--max-message-mb", 1...Bounds.maxMebibytes)
        try Validate.count(maxShardMb, "--max-shard-mb", 1...Bounds.maxMebibytes)
        try Validate.count(maxInFlight, "--max-in-flight", 1...Bounds.maxRepetitions)
        try RunDirectory.checkOut(out)
    }
}

extension RunCommand {
    func validate() throws {
        try Validate.count(workers, "--workers", 1...Bounds.maxWorkers)
        try Validate.count(workerBatchDelayMs, "--worker-batch-delay-ms", 0...3_600_000)
    }
}

extension WorkerCommand {
    func validate() throws {
        try Validate.seconds(giveUpSeconds, "--give-up-seconds", 0.001...Bounds.maxSeconds)
        try Validate.count(batchDelayMs, "--batch-delay-ms", 0...3_600_000)
        try Validate.count(maxPlanSteps, "--max-plan-steps", 1...Bounds.maxRepetitions)
    }
}

extension SampleCommand {
    func validate() throws {
        try Validate.count(n, "--n", 1...Bounds.maxSamples)
        try Validate.count(batch, "--batch", 1...Bounds.maxBatch)
        try Validate.count(heads, "--heads", 1...Bounds.maxModelWidth)
        try Validate.finite(cfg, "--cfg", -Bounds.maxGuidanceScale...Bounds.maxGuidanceScale)
        try Validate.count(cfgChannels, "--cfg-channels", 1...Bounds.maxModelWidth)
        try Validate.finite(rtol, "--rtol", Double.leastNormalMagnitude...1)
        try Validate.finite(atol, "--atol", Double.leastNormalMagnitude...1)
    }
}

extension InspectCommand {
    func validate() throws { try Validate.count(heads, "--heads", 1...Bounds.maxModelWidth) }
}

extension ForwardCommand {
    func validate() throws { try Validate.count(heads, "--heads", 1...Bounds.maxModelWidth) }
}

extension StatsReferenceCommand {
    func validate() throws {
        try Validate.count(projectionDim, "--projection-dim", 1...Bounds.maxFeatureDimension)
        try Validate.count(reservoir, "--reservoir", Int.min...Bounds.maxSamples)
    }
}

extension StatsCompareCommand {
    func validate() throws {
        try Validate.count(projectionDim, "--projection-dim", 1...Bounds.maxFeatureDimension)
        try Validate.count(kPR, "--k-pr", 1...Bounds.maxRepetitions)
        try Validate.count(kDC, "--k-dc", 1...Bounds.maxRepetitions)
        try Validate.count(kidSubsetSize, "--kid-subset-size", 2...Bounds.maxSamples)
        try Validate.count(kidSubsets, "--kid-subsets", 1...Bounds.maxRepetitions)
        try Validate.count(swdDirections, "--swd-directions", 1...Bounds.maxFeatureDimension)
        try Validate.count(maxSamples, "--max-samples", 2...Bounds.maxSamples)
    }
}

extension BenchCluster {
    func validate() throws {
        try Validate.count(shards, "--shards", 1...Bounds.maxSamples)
        try Validate.count(controlWorkers, "--control-workers", 1...Bounds.maxWorkers)
        try Validate.count(samples, "--samples", 1...Bounds.maxSamples)
        try Validate.count(batch, "--batch", 1...Bounds.maxBatch)
        try Validate.count(workers, "--workers", 1...Bounds.maxWorkers)
        try RunDirectory.checkOut(dir)
    }
}

extension BenchModel {
    func validate() throws {
        try Validate.count(heads, "--heads", 1...Bounds.maxModelWidth)
        for b in batches { try Validate.count(b, "--batches", 1...Bounds.maxBatch) }
        try Validate.count(threads, "--threads", 1...Bounds.maxWorkers)
        try Validate.count(repeats, "--repeats", 1...Bounds.maxRepetitions)
    }
}

extension BenchSampler {
    func validate() throws {
        try Validate.finite(cfg, "--cfg", -Bounds.maxGuidanceScale...Bounds.maxGuidanceScale)
        try Validate.count(n, "--n", 1...Bounds.maxSamples)
        try Validate.count(batch, "--batch", 1...Bounds.maxBatch)
        try Validate.finite(tol, "--tol", Double.leastNormalMagnitude...1)
        try Validate.count(repeats, "--repeats", 1...Bounds.maxRepetitions)
        try Validate.count(threads, "--threads", 1...Bounds.maxWorkers)
    }
}

extension FuzzCommand {
    func validate() throws { try Validate.seconds(seconds, "--seconds", 0...Bounds.maxSeconds) }
}
