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
        BenchControlPlane.self,
        BenchTrain.self,
    ]
}

/// Prints the kernels every benchmark's numbers depend on (OpenBLAS's family and why, the elementwise family) and,
/// on stderr, the hint when generic kernels still run on an AVX2/AVX-512 CPU.
func printBLASBackend() {
    print("kernels: \(BLASCoreSelection.kernelSummary())")
    print("OpenBLAS config: \(Gemm.backend.config.trimmingCharacters(in: .whitespaces))")
    printSlowKernelHint()
}

/// The one-line hint on stderr when OpenBLAS runs generic kernels on a CPU with faster ones, else nothing.
func printSlowKernelHint() {
    if let hint = Gemm.slowKernelHint() { FileHandle.standardError.write(Data(("note: " + hint + "\n").utf8)) }
}
