import ArgumentParser

/// `flowturbo bench …`: benchmarks that print ratios against a baseline measured in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (medians, ratios against a baseline measured in the same run).",
        subcommands: BenchRegistry.all)
}

/// Bench subcommands; each lives in its own file (BenchModel.swift, BenchSampler.swift, …).
enum BenchRegistry {
    static let all: [ParsableCommand.Type] = [
        BenchModel.self,
        BenchSampler.self,
        BenchCluster.self,
        BenchTrain.self,
    ]
}
