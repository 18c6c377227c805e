import ArgumentParser
import FlowModels
import FlowSampler
import FlowTensor
import Foundation

/// `flowturbo bench sampler`: plans (E, H, H·P, H·P·R) on gmm:mnist and a SiT model — time per sample, NFE,
/// error against a dopri5 reference of the same noise, and the share of time spent outside model calls.
struct BenchSampler: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sampler",
        abstract: "Plans on gmm:mnist and a SiT model: ms/sample, NFE, RMS error vs dopri5, % time outside the model "
            + "(goal ≤ 2%), and the default plan against H8 (speed ratio, RMS-error ratio).")

    @Option(parsing: .upToNextOption, help: "Plans to compare.")
    var plans: [String] = ["E8", "H4", "H8", "H2P4", "H2P6", "H2P4R2", "H1P5R3"]
    @Option(
        help: ArgumentHelp(
            "SiT predictor checkpoint (default: Models/sit-mnist.safetensors if present, "
                + "else random weights of that size)."))
    var sit: String?
    @Option(
        help: ArgumentHelp(
            "Refiner checkpoint for R plans (default: Models/refiner-mnist.safetensors with the "
                + "shipped SiT, else an untrained depth-1 refiner whose zero output layer "
                + "returns v_prev)."))
    var refiner: String?
    @Option(help: "Skip the SiT rows.") var skipSit = false
    @Option(help: "Guidance scale.") var cfg: Float = 1.5
    @Option(help: "Samples per model.") var n: Int = 16
    @Option(help: "Batch size.") var batch: Int = 16
    @Option(help: "dopri5 reference tolerance (rtol = atol).") var tol: Double = 1e-5
    @Option(help: "Timed repetitions (the fastest is reported).") var repeats: Int = 3
    @Option(
        help:
            "The plan to compare against --baseline-plan (speed ratio and RMS-error ratio; default: the shipped predictor's recommended plan, the one `run` uses)."
    )
    var defaultPlan: String?
    @Option(help: "The baseline of that comparison.") var baselinePlan: String = "H8"
    @Option(
        help: "Shape of R steps: heun (2 refiner calls) or euler (1) (default: the shipped predictor's recommendation)."
    )
    var refinerStep: RefinerStep?
    @Option(help: "OpenBLAS threads.") var threads: Int = 1

    func run() throws {
        Gemm.setThreads(threads)
        // The comparison `run` makes by default: the shipped predictor's recommended plan and R-step shape.
        let rec = try ModelDefaults.resolve(model: nil, refiner: nil, plan: nil, refinerStep: nil, guidance: nil)
        let defaultPlan = self.defaultPlan ?? (rec.refiner != nil ? rec.plan : "H2P4R2")
        let stepName = refinerStep?.rawValue ?? (rec.refiner != nil ? rec.refinerStep : "euler")
        guard let step = RefinerStep(rawValue: stepName) else {
            throw FlowError("the recommended R-step shape \"\(stepName)\" is neither heun nor euler")
        }
        _ = try Plan.parse(defaultPlan)
        _ = try Plan.parse(baselinePlan)
        let untrained = untrainedRefiner()
        // A trained refiner belongs to its SiT; gmm:mnist rows use the untrained one unless --refiner is given.
        let given = try refiner.map { try ModelLoader.load($0, refiner: true) }
        var models: [(name: String, field: VelocityField, refiner: VelocityField)] = [
            ("gmm:mnist", try ModelLoader.load("gmm:mnist"), given ?? untrained)
        ]
        let shipped = ModelLoader.modelsDirectory + "/sit-mnist.safetensors"
        let shippedRefiner = ModelLoader.modelsDirectory + "/refiner-mnist.safetensors"
        let useShipped = sit == nil && FileIO.exists(shipped)
        let refinerPath = refiner ?? (useShipped && FileIO.exists(shippedRefiner) ? shippedRefiner : nil)
        let sitRefiner = try given ?? refinerPath.map { try ModelLoader.load($0, refiner: true) } ?? untrained
        if !skipSit {
            let path = sit ?? (useShipped ? shipped : nil)
            if let path {
                models.append(((path as NSString).lastPathComponent, try SiTModel.load(path), sitRefiner))
            } else {
                let cfg = SiTConfig(
                    inputSize: 28, patchSize: 4, inChannels: 1, hiddenSize: 128, depth: 8, numHeads: 4,
                    numClasses: 10, learnSigma: false, isRefiner: false)
                let w = SiTWeights(config: cfg)
                w.randomize(seed: 1)
                models.append(("SiT D128 d8 p4 (random)", SiTModel(weights: w), sitRefiner))
            }
        }
        let labels = (0..<n).map { Labels.balanced(index: $0, classes: 10) }
        printBLASBackend()
        let refinerName = refinerPath ?? "untrained (returns v_prev)"
        print(
            "n \(n), batch \(batch), cfg \(cfg), reference dopri5 rtol=atol=\(tol), OpenBLAS threads \(threads), "
                + "fastest of \(repeats), R steps \(step.rawValue), SiT refiner \(refinerName)")
        print(pad("model", 28) + pad("plan", 10) + "NFE(p+r)   ms/sample   RMS err vs ref   outside model")
        for (name, field, ref) in models {
            let refOut = try sampleAll(field, nil, try Plan.parse("dopri5"), labels)
            let refNFE = refOut.nfe
            let refMs = 1000 * refOut.seconds / Double(n)
            print(
                pad(name, 28) + pad("dopri5", 10) + String(format: "%8.1f   %9.3f", refNFE, refMs)
                    + "      (reference)               -")
            var rows: [String: (ms: Double, rms: Double)] = [:]
            let all = plans + [defaultPlan, baselinePlan].filter { !plans.contains($0) }
            for p in all {
                let plan = try Plan.parse(p)
                var best = Double.infinity
                var result = (out: [Float](), nfe: 0.0, seconds: 0.0, outside: 0.0)
                for _ in 0..<max(1, repeats) {
                    let r = try sampleAll(field, plan.needsRefiner ? ref : nil, plan, labels, step)
                    if r.seconds < best {
                        best = r.seconds
                        result = r
                    }
                }
                var e2 = 0.0
                for j in 0..<result.out.count {
                    let e = Double(result.out[j] - refOut.out[j])
                    e2 += e * e
                }
                let rms = (e2 / Double(result.out.count)).squareRoot()
                print(
                    pad(name, 28) + pad(p, 10)
                        + String(
                            format: "%8.0f   %9.3f   %14.5f   %12.2f%%", result.nfe,
                            1000 * result.seconds / Double(n), rms, 100 * result.outside))
                rows[p] = (1000 * result.seconds / Double(n), rms)
            }
            if let d = rows[defaultPlan], let b = rows[baselinePlan] {
                print(
                    pad(name, 28) + "default plan \(defaultPlan) vs \(baselinePlan): "
                        + String(
                            format: "speed ratio %.2f× (%.3f vs %.3f ms/sample), RMSE ratio %.3f (%.4e vs %.4e)",
                            b.ms / d.ms, d.ms, b.ms, d.rms / max(b.rms, 1e-30), d.rms, b.rms))
            }
        }
        print(
            "RMS err: per coordinate, against the dopri5 solve of the same noise and labels. "
                + "Outside model: (wall − model calls) / wall. Speed ratio: baseline ms/sample ÷ default plan ms/sample; "
                + "RMSE ratio: default plan RMS err ÷ baseline RMS err.")
    }

    /// A depth-1 refiner with random weights and a zero output layer: it returns v_prev (R steps reuse the velocity).
    func untrainedRefiner() -> VelocityField {
        let cfg = SiTConfig(
            inputSize: 28, patchSize: 4, inChannels: 1, hiddenSize: 128, depth: 1, numHeads: 4,
            numClasses: 10, learnSigma: false, isRefiner: true)
        let w = SiTWeights(config: cfg)
        w.randomize(seed: 2)
        w.finalW.fill(0)
        w.finalB.fill(0)
        return SiTModel(weights: w)
    }

    /// `s` left-aligned in a column of `width` characters.
    func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    /// Runs `plan` over all labels; returns outputs, mean NFE per sample, wall seconds and the outside-model share.
    func sampleAll(
        _ field: VelocityField, _ refiner: VelocityField?, _ plan: Plan, _ labels: [Int32],
        _ step: RefinerStep = .heun
    ) throws
        -> (out: [Float], nfe: Double, seconds: Double, outside: Double)
    {
        let options = SamplerOptions(
            plan: plan, guidance: Guidance(scale: cfg), refinerStep: step, batch: batch,
            rtol: tol, atol: tol)
        let prog = try Sampler.compile(options: options, predictor: field, refiner: refiner)
        let s = field.sampleSize
        var out = [Float](repeating: 0, count: labels.count * s)
        var model = 0.0
        var nfe = 0
        let t0 = Clock.now()
        try out.withUnsafeMutableBufferPointer { ob in
            try prog.sample(
                seed: 0, count: labels.count, batch: batch, conditions: .labels(labels),
                out: ob.baseAddress!
            ) { b in
                for r in 0..<b.count { nfe += prog.nfe(ofRow: r) }
                model += b.stats.predictorSeconds + b.stats.refinerSeconds
            }
        }
        let wall = Clock.now() - t0
        return (out, Double(nfe) / Double(labels.count), wall, max(0, wall - model) / wall)
    }
}
