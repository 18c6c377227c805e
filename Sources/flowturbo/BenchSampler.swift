import ArgumentParser
import Foundation
import FlowModels
import FlowSampler
import FlowTensor

/// `flowturbo bench sampler`: plans (E, H, H·P, H·P·R) on gmm:mnist and a SiT model — time per sample, NFE,
/// error against a dopri5 reference of the same noise, and the share of time spent outside model calls.
struct BenchSampler: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sampler",
        abstract: "Plans on gmm:mnist and a SiT model: ms/sample, NFE, RMS error vs dopri5, % time outside the model (goal ≤ 2%).")

    @Option(parsing: .upToNextOption, help: "Plans to compare.") var plans: [String] = ["E8", "H4", "H8", "H2P4", "H2P6", "H2P4R2", "H1P5R3"]
    @Option(help: "SiT predictor checkpoint (default: Models/sit-mnist.safetensors if present, else random weights of that size).")
    var sit: String?
    @Option(help: "Refiner checkpoint for R plans (default: an untrained depth-1 refiner, output layer zero → returns v_prev).")
    var refiner: String?
    @Option(help: "Skip the SiT rows.") var skipSit = false
    @Option(help: "Guidance scale.") var cfg: Float = 1.5
    @Option(help: "Samples per model.") var n: Int = 16
    @Option(help: "Batch size.") var batch: Int = 16
    @Option(help: "dopri5 reference tolerance (rtol = atol).") var tol: Double = 1e-5
    @Option(help: "Timed repetitions (median).") var repeats: Int = 3
    @Option(help: "OpenBLAS threads.") var threads: Int = 1

    func run() throws {
        Gemm.setThreads(threads)
        var models: [(name: String, field: VelocityField)] = [("gmm:mnist", try ModelLoader.load("gmm:mnist"))]
        if !skipSit {
            let path = sit ?? (FileIO.exists(ModelLoader.modelsDirectory + "/sit-mnist.safetensors") ? ModelLoader.modelsDirectory + "/sit-mnist.safetensors" : nil)
            if let path {
                models.append(((path as NSString).lastPathComponent, try SiTModel.load(path)))
            } else {
                let cfg = SiTConfig(inputSize: 28, patchSize: 4, inChannels: 1, hiddenSize: 128, depth: 8, numHeads: 4,
                                    numClasses: 10, learnSigma: false, isRefiner: false)
                let w = SiTWeights(config: cfg); w.randomize(seed: 1)
                models.append(("SiT D128 d8 p4 (random)", SiTModel(weights: w)))
            }
        }
        let ref: VelocityField
        if let refiner {
            ref = try ModelLoader.load(refiner, refiner: true)
        } else {
            let cfg = SiTConfig(inputSize: 28, patchSize: 4, inChannels: 1, hiddenSize: 128, depth: 1, numHeads: 4,
                                numClasses: 10, learnSigma: false, isRefiner: true)
            let w = SiTWeights(config: cfg); w.randomize(seed: 2)
            w.finalW.fill(0); w.finalB.fill(0)
            ref = SiTModel(weights: w)
        }
        let labels = (0..<n).map { Labels.balanced(index: $0, classes: 10) }
        printBLASBackend()
        print("n \(n), batch \(batch), cfg \(cfg), reference dopri5 rtol=atol=\(tol), OpenBLAS threads \(threads), median of \(repeats)")
        print(pad("model", 28) + pad("plan", 10) + "NFE(p+r)   ms/sample   RMS err vs ref   outside model")
        for (name, field) in models {
            let refOut = try sampleAll(field, nil, try Plan.parse("dopri5"), labels)
            let refNFE = refOut.nfe
            print(pad(name, 28) + pad("dopri5", 10) + String(format: "%8.1f   %9.3f", refNFE, 1000 * refOut.seconds / Double(n))
                  + "      (reference)               -")
            for p in plans {
                let plan = try Plan.parse(p)
                var best = Double.infinity
                var result = (out: [Float](), nfe: 0.0, seconds: 0.0, outside: 0.0)
                for _ in 0..<max(1, repeats) {
                    let r = try sampleAll(field, plan.needsRefiner ? ref : nil, plan, labels)
                    if r.seconds < best { best = r.seconds; result = r }
                }
                var e2 = 0.0
                for j in 0..<result.out.count { let e = Double(result.out[j] - refOut.out[j]); e2 += e * e }
                let rms = (e2 / Double(result.out.count)).squareRoot()
                print(pad(name, 28) + pad(p, 10) + String(format: "%8.0f   %9.3f   %14.5f   %12.2f%%", result.nfe,
                             1000 * result.seconds / Double(n), rms, 100 * result.outside))
            }
        }
        print("RMS err: per coordinate, against the dopri5 solve of the same noise and labels. Outside model: (wall − model calls) / wall.")
    }

    /// `s` left-aligned in a column of `width` characters.
    func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }

    /// Runs `plan` over all labels; returns outputs, mean NFE per sample, wall seconds and the outside-model share.
    func sampleAll(_ field: VelocityField, _ refiner: VelocityField?, _ plan: Plan, _ labels: [Int32]) throws
        -> (out: [Float], nfe: Double, seconds: Double, outside: Double)
    {
        let prog = try SamplingProgram(options: SamplerOptions(plan: plan, guidance: Guidance(scale: cfg), batch: batch, rtol: tol, atol: tol),
                                       predictor: field, refiner: refiner)
        let s = field.sampleSize
        var out = [Float](repeating: 0, count: labels.count * s)
        var model = 0.0, nfe = 0
        let t0 = Clock.now()
        var done = 0
        while done < labels.count {
            let c = min(batch, labels.count - done)
            let st = labels.withUnsafeBufferPointer { lb in
                out.withUnsafeMutableBufferPointer { ob in
                    prog.run(seed: 0, firstIndex: done, count: c, labels: lb.baseAddress! + done, out: ob.baseAddress! + done * s)
                }
            }
            for r in 0..<c { nfe += prog.nfe(ofRow: r) }
            model += st.predictorSeconds + st.refinerSeconds
            done += c
        }
        let wall = Clock.now() - t0
        return (out, Double(nfe) / Double(labels.count), wall, max(0, wall - model) / wall)
    }
}
