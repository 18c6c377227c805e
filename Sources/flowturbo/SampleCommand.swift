import ArgumentParser
import FlowModels
import FlowSampler
import FlowTensor
import Foundation

/// `flowturbo sample`: runs a compiled sampling program and writes latents (.npy) or an image grid (.png).
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Sample with a FlowTurbo plan (H{a}P{b}R{c}, E{n} or dopri5) and write .npy latents or a .png grid.",
        discussion: """
            Sample i uses noise Noise.fill(seed, i) (Philox4x32-10 + Box-Muller), so any sample is reproducible on its own.
            NFE is reported per sample as the number of model calls; with guidance a [cond; null] pair counts once.
            Labels: --classes 0,3,7 samples those labels in order (with --n, the list repeats up to N); --n alone gives i mod K.
            """)

    @Option(
        help:
            "Predictor: gmm:synthetic, gmm:mnist or a safetensors path (default: shipped SiT if present, else gmm:mnist)."
    )
    var model: String?
    @Option(help: "Refiner checkpoint (default: the one the model's metadata recommends; `none` = no refiner).")
    var refiner: String?
    @Option(help: "Attention heads of a converted checkpoint whose metadata lacks them.") var heads: Int?
    @Option(
        help:
            "Plan: H{a}P{b}R{c} (parts optional, in this order), E{n} or dopri5 (default: the model's recommendation, else H8)."
    )
    var plan: String?
    @Option(
        help:
            "Classifier-free guidance scale (1 = off; the null half is skipped; default: the model's recommendation, else 1)."
    )
    var cfg: Float?
    @Option(help: "Guide only the first N channels (3 = the official DiT/SiT quirk); default all.") var cfgChannels:
        Int?
    @Option(
        help: "Shape of R steps: heun (2 refiner calls) or euler (1) (default: the model's recommendation, else heun).")
    var refinerStep: RefinerStep?
    @Option(help: "Comma-separated class labels, e.g. 0,3,7.") var classes: String?
    @Option(help: "Number of samples.") var n: Int?
    @Option(help: "Global seed.") var seed: UInt64 = 0
    @Option(help: "Samples per program run.") var batch: Int = 16
    @Option(help: "dopri5 relative tolerance.") var rtol: Double = 1e-6
    @Option(help: "dopri5 absolute tolerance.") var atol: Double = 1e-6
    @Option(help: "dopri5 steps per sample before it fails as not converged.") var maxSteps: Int = 100_000
    @Option(help: "Output: .npy latents (N, ...) or .png grid for image latents.") var out: String
    @Option(help: "Text-conditioned models: .npz with features (N,L,C) float32, mask (N,L); sample i uses row i mod N.")
    var captionFeatures: String?

    func run() throws {
        let r = try ModelDefaults.resolve(
            model: model, refiner: refiner, plan: plan, refinerStep: refinerStep?.rawValue,
            guidance: cfg)
        let planValue = try Plan.parse(r.plan)
        let step = RefinerStep(rawValue: r.refinerStep) ?? .heun
        let cfg = r.guidance
        let spec = r.model
        let predictor = try ModelLoader.load(spec, heads: heads, refiner: false)
        let ref = try (planValue.needsRefiner ? r.refiner : nil).map {
            try ModelLoader.load($0, heads: heads, refiner: true)
        }
        let captions = try captionFeatures.map { try CaptionFeatures(path: $0, model: predictor) }
        if captions != nil && classes != nil { throw FlowError("--classes is for class-conditional models; drop it") }
        // Before the labels and the output buffer exist: N samples of this shape must fit in memory.
        let requested = n ?? captions?.batch.rows
        try Validate.fitsInMemory(
            [requested ?? 1, predictor.sampleSize], bytesPerElement: 4,
            "--n \(requested ?? 1) samples of shape \(predictor.sampleShape)")
        let labels = try SampleCommand.labels(classes: classes, n: requested, numClasses: predictor.numClasses)
        let count = labels.count
        let options = SamplerOptions(
            plan: planValue, guidance: Guidance(scale: cfg, channels: cfgChannels), refinerStep: step,
            batch: max(1, min(batch, count)), rtol: rtol, atol: atol, maxSteps: maxSteps)
        let program = try Sampler.compile(
            options: options, predictor: predictor, refiner: ref,
            maxCaptionLength: captions?.batch.length ?? 0)
        let s = predictor.sampleSize
        let isPNG = out.lowercased().hasSuffix(".png")
        if isPNG && predictor.sampleShape.count != 3 {
            throw FlowError(
                "--out \(out): PNG needs image latents (C,H,W); \(spec) has shape \(predictor.sampleShape), write .npy instead"
            )
        }
        var output = [Float](repeating: 0, count: count * s)
        var total = RunStats()
        var nfeSum = 0
        let start = Clock.now()
        var lastReport = start
        try output.withUnsafeMutableBufferPointer { ob in
            try program.sample(
                seed: seed, count: count, batch: options.batch,
                conditions: captions?.conditions ?? .labels(labels), out: ob.baseAddress!
            ) { b in
                for r in 0..<b.count { nfeSum += program.nfe(ofRow: r) }
                total.predictorSeconds += b.stats.predictorSeconds
                total.refinerSeconds += b.stats.refinerSeconds
                total.solverSeconds += b.stats.solverSeconds
                total.predictorNFE = b.stats.predictorNFE
                total.refinerNFE = b.stats.refinerNFE
                let done = b.offset + b.count
                let now = Clock.now()
                if count > options.batch && (now - lastReport > 2 || done == count) {
                    let rate = Double(done) / (now - start)
                    let eta = Double(count - done) / max(rate, 1e-9)
                    FileHandle.standardError.write(
                        String(format: "sample: %d/%d  %.1f samples/s  ETA %.0f s\n", done, count, rate, eta)
                            .data(using: .utf8)!)
                    lastReport = now
                }
            }
        }
        let wall = Clock.now() - start
        let shape = [count] + predictor.sampleShape
        if isPNG {
            let g = try PNG.grid(
                Tensor(shape: shape, data: output), columns: Int(Double(count).squareRoot().rounded(.up)))
            try PNG.write(path: out, width: g.width, height: g.height, channels: g.channels, pixels: g.pixels)
        } else {
            try NPY.write(Tensor(shape: shape, data: output), to: out)
        }
        if case .dopri5 = planValue.kind {
            print(
                String(
                    format: "NFE per sample: %.1f (dopri5 mean, rtol %g, atol %g)", Double(nfeSum) / Double(count),
                    rtol, atol))
        } else {
            print(
                "NFE per sample: \(total.predictorNFE) predictor + \(total.refinerNFE) refiner (plan \(planValue), R step \(step.rawValue), cfg \(cfg); a guided [cond; null] pair counts once)"
            )
        }
        let model = total.predictorSeconds + total.refinerSeconds
        print(
            String(
                format: "wall %.3f s for %d samples (%.3f ms/sample); model %.1f%%, outside model %.2f%%",
                wall, count, 1000 * wall / Double(count), 100 * model / max(wall, 1e-12),
                100 * (wall - model) / max(wall, 1e-12)))
        print("wrote \(out) \(shape)")
    }

    /// Labels from --classes/--n (see the command's discussion); the null class for unconditional models.
    static func labels(classes: String?, n: Int?, numClasses: Int) throws -> [Int32] {
        if let n, n <= 0 { throw FlowError("--n must be ≥ 1 (got \(n))") }
        if let classes {
            let parts = classes.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            var list: [Int32] = []
            for p in parts {
                guard let v = Int32(p), v >= 0, numClasses == 0 || Int(v) <= numClasses else {
                    throw FlowError(
                        "--classes \"\(classes)\": \"\(p)\" is not a label in 0..<\(numClasses) (or \(numClasses) for the null class)"
                    )
                }
                list.append(v)
            }
            guard !list.isEmpty else { throw FlowError("--classes is empty; give e.g. 0,3,7") }
            let count = n ?? list.count
            return (0..<count).map { list[$0 % list.count] }
        }
        let count = n ?? 16
        if numClasses == 0 { return Array(repeating: 0, count: count) }
        return (0..<count).map { Labels.balanced(index: $0, classes: numClasses) }
    }
}
