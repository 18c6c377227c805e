import ArgumentParser
import Foundation
import FlowModels
import FlowTensor

/// `flowturbo bench model`: SiT / PixArt-α forward throughput against the `cblas_sgemm` peak measured in the same run.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "SiT / PixArt-α forward GFLOP/s at several batch sizes vs the cblas_sgemm peak of the same run.")

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
    @Option(help: "Timed (peak, forward) pairs per batch size (medians reported).") var repeats = 21

    @Flag(help: "Benchmark a random PixArt-α (text-conditioned) model instead of a SiT.") var pixart = false
    @Option(help: "Caption channels of the random PixArt-α model.") var captionChannels = 64
    @Option(help: "Caption tokens (L_max) of the random PixArt-α model.") var captionTokens = 16

    func run() throws {
        Gemm.setThreads(threads)
        printBLASBackend()
        let (m, flops, desc) = try benchedModel()
        // The peak and the model are timed in alternation (one peak GEMM, one forward, …) so both see the same
        // machine load; each row reports medians and the median of the per-pair ratios.
        let pa = Buffer(count: 512 * 512), pb = Buffer(count: 512 * 512), pc = Buffer(count: 512 * 512)
        var rng = SeededRandom(seed: 2)
        pa.copy(from: rng.normals(pa.count)); pb.copy(from: rng.normals(pb.count))
        let peakFlops = 2.0 * 512 * 512 * 512
        print("model: " + desc + String(format: ", %.1f MFLOP/sample (token path), %d OpenBLAS thread%@", flops / 1e6,
                                        threads, threads == 1 ? "" : "s"))
        print("batch   ms/forward   ms/sample   GFLOP/s   sgemm peak GFLOP/s   % of peak (median of paired ratios)")
        for b in batches {
            let ev = m.makeEvaluator(maxRows: b, times: [0.5])
            let x = Buffer(rng.normals(b * m.sampleSize)), out = Buffer(count: b * m.sampleSize)
            let v = m.isRefiner ? Buffer(rng.normals(b * m.sampleSize)) : nil
            var labels = (0..<b).map { Int32($0 % max(m.numClasses, 1)) }
            ev.setLabels(&labels, rows: b)
            let vp: UnsafePointer<Float>? = v.map { UnsafePointer($0.ptr) }
            var modelT: [Double] = [], peakT: [Double] = [], ratios: [Double] = []
            for i in 0..<(repeats + 2) {
                var t0 = Clock.now()
                Gemm.sgemm(m: 512, n: 512, k: 512, a: pa.ptr, b: pb.ptr, c: pc.ptr)
                let tp = Clock.now() - t0
                t0 = Clock.now()
                ev.evaluate(x: x.ptr, v: vp, timeIndex: 0, out: out.ptr)
                let tm = Clock.now() - t0
                if i < 2 { continue }   // warm-up
                modelT.append(tm); peakT.append(tp)
                ratios.append((flops * Double(b) / tm) / (peakFlops / tp))
            }
            let tm = median(modelT), tp = median(peakT)
            let gflops = flops * Double(b) / tm / 1e9
            print(String(format: "%5d   %10.3f   %9.3f   %7.1f   %18.1f   %5.1f%%", b, tm * 1e3, tm * 1e3 / Double(b), gflops,
                         peakFlops / tp / 1e9, 100 * median(ratios)))
        }
    }

    /// The model to time, its token-path FLOPs per sample and a one-line description.
    private func benchedModel() throws -> (VelocityField, Double, String) {
        if let model {
            let f = try ModelLoader.load(model, heads: heads)
            if let p = f as? PixArtModel {
                let c = p.config
                return (p, c.flopsPerSample, describe(c))
            }
            guard let s = f as? SiTModel else {
                throw FlowError("\(model) is not a SiT or PixArt-α checkpoint; give a transformer safetensors file")
            }
            return (s, s.config.flopsPerSample, describe(s.config))
        }
        if pixart {
            let cfg = PixArtConfig(inputSize: size, patchSize: patch, inChannels: channels, hiddenSize: hidden,
                                   depth: depth, numHeads: numHeads, captionChannels: captionChannels,
                                   captionTokens: captionTokens,
                                   learnSigma: false, isRefiner: false)
            try cfg.validate(source: "bench")
            let w = PixArtWeights(config: cfg)
            w.randomize(seed: 1)
            return (PixArtModel(weights: w), cfg.flopsPerSample, describe(cfg))
        }
        let cfg = SiTConfig(inputSize: size, patchSize: patch, inChannels: channels, hiddenSize: hidden, depth: depth,
                            numHeads: numHeads, numClasses: 10, learnSigma: false, isRefiner: false)
        try cfg.validate(source: "bench")
        let w = SiTWeights(config: cfg)
        w.randomize(seed: 1)
        return (SiTModel(weights: w), cfg.flopsPerSample, describe(cfg))
    }

    private func describe(_ c: SiTConfig) -> String {
        "D \(c.hiddenSize), depth \(c.depth), heads \(c.numHeads), patch \(c.patchSize), "
            + "\(c.inChannels)×\(c.inputSize)×\(c.inputSize)"
    }

    private func describe(_ c: PixArtConfig) -> String {
        "PixArt-α D \(c.hiddenSize), depth \(c.depth), heads \(c.numHeads), patch \(c.patchSize), "
            + "\(c.inChannels)×\(c.inputSize)×\(c.inputSize), null captions L \(c.captionTokens)"
    }

    private func median(_ a: [Double]) -> Double {
        let s = a.sorted(), n = s.count
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}
