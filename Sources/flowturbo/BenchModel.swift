import ArgumentParser
import Foundation
import FlowModels
import FlowTensor

/// `flowturbo bench model`: SiT forward throughput against the `cblas_sgemm` peak measured in the same run.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "SiT forward GFLOP/s at several batch sizes vs the cblas_sgemm peak measured in the same run.")

    @Option(help: "Benchmark this checkpoint instead of a random model of the shipped size.") var model: String?
    @Option(help: "Attention heads for a converted checkpoint.") var heads: Int?
    @Option(help: "Hidden size of the random model.") var hidden = 128
    @Option(help: "Depth of the random model.") var depth = 8
    @Option(help: "Heads of the random model.") var numHeads = 4
    @Option(help: "Patch size of the random model.") var patch = 4
    @Option(help: "Input size (square) of the random model.") var size = 28
    @Option(help: "Channels of the random model.") var channels = 1
    @Option(parsing: .upToNextOption, help: "Batch sizes.") var batches: [Int] = [1, 16, 64]
    @Option(help: "OpenBLAS threads.") var threads = 1
    @Option(help: "Timed repetitions per batch size (median reported).") var repeats = 9

    func run() throws {
        Gemm.setThreads(threads)
        let m: SiTModel
        if let model { m = try SiTModel.load(model, heads: heads) } else {
            let cfg = SiTConfig(inputSize: size, patchSize: patch, inChannels: channels, hiddenSize: hidden, depth: depth,
                                numHeads: numHeads, numClasses: 10, learnSigma: false, isRefiner: false)
            try cfg.validate(source: "bench")
            let w = SiTWeights(config: cfg); w.randomize(seed: 1)
            m = SiTModel(weights: w)
        }
        let c = m.config
        let peak = Clock.sgemmPeak()
        print(String(format: "cblas_sgemm peak (512³, %d thread%@): %.1f GFLOP/s (median of 15)", threads, threads == 1 ? "" : "s", peak))
        print("model: D \(c.hiddenSize), depth \(c.depth), heads \(c.numHeads), patch \(c.patchSize), \(c.inChannels)×\(c.inputSize)×\(c.inputSize), "
              + String(format: "%.1f MFLOP/sample (token path)", c.flopsPerSample / 1e6))
        print("batch   ms/forward   ms/sample   GFLOP/s   % of sgemm peak")
        var rng = SeededRandom(seed: 2)
        for b in batches {
            let ev = m.makeEvaluator(maxRows: b, times: [0.5])
            let x = Buffer(rng.normals(b * c.sampleSize)), out = Buffer(count: b * c.sampleSize)
            let v = c.isRefiner ? Buffer(rng.normals(b * c.sampleSize)) : nil
            var labels = (0..<b).map { Int32($0 % max(c.numClasses, 1)) }
            ev.setLabels(&labels, rows: b)
            let t = Clock.median(repeats: repeats, warmup: 2) {
                ev.evaluate(x: x.ptr, v: v.map { UnsafePointer($0.ptr) }, timeIndex: 0, out: out.ptr)
            }
            let gflops = c.flopsPerSample * Double(b) / t / 1e9
            print(String(format: "%5d   %10.3f   %9.3f   %7.1f   %5.1f%%", b, t * 1e3, t * 1e3 / Double(b), gflops, 100 * gflops / peak))
        }
    }
}
