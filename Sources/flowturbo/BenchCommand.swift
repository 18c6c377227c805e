import ArgumentParser
import FlowTensor
import Foundation

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

/// Prints OpenBLAS's kernel family (every benchmark's numbers depend on it) and, on stderr, the hint when
/// generic kernels run on an AVX2/AVX-512 CPU.
func printBLASBackend() {
    print("OpenBLAS: \(Gemm.backend.core) kernels (\(Gemm.backend.config.trimmingCharacters(in: .whitespaces)))")
    if let hint = Gemm.slowKernelHint() { FileHandle.standardError.write(Data(("note: " + hint + "\n").utf8)) }
}
