import ArgumentParser
import FlowModels
import FlowTensor
import FlowTraining
import Foundation

/// `flowturbo bench train`: training-step throughput (samples/s, GFLOP/s) against the `cblas_sgemm` peak
/// measured in the same run, on synthetic data (no MNIST needed).
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "SiT training step (forward + backward + AdamW + EMA) samples/s and GFLOP/s vs the cblas_sgemm peak.")

    @Option(help: "Hidden size.") var hidden = 128
    @Option(help: "Depth.") var depth = 6
    @Option(help: "Heads.") var numHeads = 4
    @Option(help: "Patch size.") var patch = 4
    @Option(help: "Batch size.") var batch = 128
    @Option(help: "Timed steps (median reported).") var steps = 5
    @Option(help: "OpenBLAS threads.") var threads = 1

    func run() throws {
        Gemm.setThreads(threads)
        printBLASBackend()
        let cfg = SiTConfig(
            inputSize: 28, patchSize: patch, inChannels: 1, hiddenSize: hidden, depth: depth, numHeads: numHeads,
            numClasses: 10, learnSigma: false, isRefiner: false)
        try cfg.validate(source: "bench train")
        // synthetic 28×28 "MNIST" (random bytes) so the bench needs no data files
        var rng = SeededRandom(seed: 3)
        let n = max(batch * 2, 256)
        let px = (0..<(n * 784)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let labels = (0..<n).map { UInt8($0 % 10) }
        let data = try MNISTData(count: n, rows: 28, cols: 28, pixels: px, labels: labels, source: "synthetic")
        var o = TrainOptions()
        o.batch = batch
        o.steps = Int.max
        o.checkpointEvery = 0
        let w = SiTWeights(config: cfg)
        SiTInit.official(w, seed: 1)
        let ft = try FlowMatchingTrainer(weights: w, data: data, options: o)
        let peak = Clock.sgemmPeak()
        print(
            String(
                format: "cblas_sgemm peak (512³, %d thread%@): %.1f GFLOP/s (median of 15)", threads,
                threads == 1 ? "" : "s", peak))
        let t = Clock.median(repeats: steps, warmup: 1) { ft.trainStep() }
        // training FLOPs ≈ 3 × forward (forward, backward to activations, backward to weights)
        let flops = 3 * ft.trainer.flopsPerRow * Double(batch)
        let gf = flops / t / 1e9
        print(
            "model: D \(hidden), depth \(depth), heads \(numHeads), patch \(patch), \(cfg.parameterCount) parameters, batch \(batch)"
        )
        print(
            String(
                format: "train step: %.3f s (median of %d)  %.1f samples/s  %.1f GFLOP/s  %.1f%% of sgemm peak",
                t, steps, Double(batch) / t, gf, 100 * gf / peak))
    }
}
