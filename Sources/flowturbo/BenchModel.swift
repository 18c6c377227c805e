import ArgumentParser
import FlowModels
import FlowTensor
import Foundation

/// `flowturbo bench model`: SiT / PixArt-α forward throughput against the `cblas_sgemm` peak measured in the same run, with the
/// kernel families side by side (elementwise families in this process, OpenBLAS cores in child processes).
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
    @Option(help: "Timed (peak, forward) pairs per batch size (medians reported).") var repeats = 21
    @Option(help: "Elementwise kernel families: active (the one selected) or all (every family this CPU runs).")
    var elementwise = "active"
    @Option(parsing: .upToNextOption, help: "GEMM libraries to compare: openblas, onednn (default: the active one).")
    var gemm: [String] = []
    @Option(
        parsing: .upToNextOption,
        help: "Also run the benchmark with each of these OpenBLAS cores (child processes), e.g. SkylakeX Prescott.")
    var blasCores: [String] = []
    @Option(help: "Goal: % of the sgemm peak at batch ≥ 16 (reported as met or not).") var goal = 70.0
    @Option(
        help: ArgumentHelp(
            "Clock: wall, or cpu (this thread's CPU time, steadier on a shared machine; "
                + "single-threaded runs only)."))
    var clock = "wall"
    @Flag(help: "Benchmark a random PixArt-α (text-conditioned) model instead of a SiT.") var pixart = false
    @Option(help: "Caption channels of the random PixArt-α model.") var captionChannels = 64
    @Option(help: "Caption tokens (L_max) of the random PixArt-α model.") var captionTokens = 16

    func run() throws {
        guard clock == "wall" || (clock == "cpu" && threads == 1) else {
            throw FlowError("--clock must be wall, or cpu with --threads 1 (got \(clock), \(threads) threads)")
        }
        guard elementwise == "active" || elementwise == "all" else {
            throw FlowError("--elementwise must be active or all (got \"\(elementwise)\")")
        }
        let libs = try gemm.map { name -> GemmLibrary in
            guard let lib = GemmLibrary(rawValue: name.lowercased()) else {
                throw FlowError("--gemm \(name): expected openblas or onednn")
            }
            return lib
        }
        let savedLib = Gemm.library
        defer { try? Gemm.select(savedLib) }
        Gemm.setThreads(threads)
        printBLASBackend()
        let (m, flops, desc) = try benchedModel()
        print(
            "model: " + desc
                + String(
                    format: ", %.1f MFLOP/sample (token path), %d OpenBLAS thread%@", flops / 1e6,
                    threads, threads == 1 ? "" : "s"))
        let families = elementwise == "all" ? ElementwiseKernels.supported.reversed() : [ElementwiseKernels.active]
        let saved = ElementwiseKernels.active
        defer { ElementwiseKernels.select(saved) }
        print(
            "gemm       elementwise   batch   ms/forward   ms/sample   GFLOP/s   sgemm peak GFLOP/s   "
                + "% of peak (median of paired ratios)")
        var misses: [String] = []
        var checked = 0
        for b in batches {
            for (lib, family) in (libs.isEmpty ? [savedLib] : libs).flatMap({ l in families.map { (l, $0) } }) {
                try Gemm.select(lib)
                ElementwiseKernels.select(family)
                let r = measure(m, flops: flops, batch: b)
                let name =
                    "\(lib)".padding(toLength: 11, withPad: " ", startingAt: 0)
                    + "\(family)".padding(toLength: 11, withPad: " ", startingAt: 0)
                print(
                    name
                        + String(
                            format: "   %5d   %10.3f   %9.3f   %7.1f   %18.1f   %5.1f%%", b, r.ms,
                            r.ms / Double(b), r.gflops, r.peak, r.percent))
                if b >= 16 && family == saved && lib == savedLib {
                    checked += 1
                    if r.percent < goal { misses.append("batch \(b)") }
                }
            }
        }
        let verdict =
            checked == 0
            ? "not measured (no batch ≥ 16)"
            : misses.isEmpty ? "met" : "missed at " + misses.joined(separator: ", ")
        let goalText = String(format: "goal ≥ %.0f%% of peak at batch ≥ 16", goal)
        print(goalText + " (\(savedLib) GEMM, \(saved) elementwise kernels): " + verdict)
        for core in blasCores { try runChild(core: core) }
    }

    /// Median forward time, GFLOP/s, peak and the median of paired ratios at batch `b`. The peak (a 512³ sgemm) and
    /// the model are timed in alternation, one peak GEMM then one forward, so both see the same machine load.
    func measure(
        _ m: VelocityField, flops: Double, batch b: Int
    )
        -> (ms: Double, gflops: Double, peak: Double, percent: Double)
    {
        let pa = Buffer(count: 512 * 512)
        let pb = Buffer(count: 512 * 512)
        let pc = Buffer(count: 512 * 512)
        var rng = SeededRandom(seed: 2)
        pa.copy(from: rng.normals(pa.count))
        pb.copy(from: rng.normals(pb.count))
        let peakFlops = 2.0 * 512 * 512 * 512
        let ev = m.makeEvaluator(maxRows: b, times: [0.5])
        let x = Buffer(rng.normals(b * m.sampleSize))
        let out = Buffer(count: b * m.sampleSize)
        let v = m.isRefiner ? Buffer(rng.normals(b * m.sampleSize)) : nil
        var labels = (0..<b).map { Int32($0 % max(m.numClasses, 1)) }
        ev.setLabels(&labels, rows: b)
        let vp: UnsafePointer<Float>? = v.map { UnsafePointer($0.ptr) }
        var modelT: [Double] = []
        var peakT: [Double] = []
        var ratios: [Double] = []
        let cpu = clock == "cpu"
        func now() -> Double {
            guard cpu else { return Clock.now() }
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + 1e-9 * Double(ts.tv_nsec)
        }
        for i in 0..<(repeats + 2) {
            var t0 = now()
            Gemm.openblasSgemm(m: 512, n: 512, k: 512, a: pa.ptr, b: pb.ptr, c: pc.ptr)
            let tp = now() - t0
            t0 = now()
            ev.evaluate(x: x.ptr, v: vp, timeIndex: 0, out: out.ptr)
            let tm = now() - t0
            if i < 2 { continue }  // warm-up
            modelT.append(tm)
            peakT.append(tp)
            ratios.append((flops * Double(b) / tm) / (peakFlops / tp))
        }
        let tm = median(modelT)
        let tp = median(peakT)
        return (tm * 1e3, flops * Double(b) / tm / 1e9, peakFlops / tp / 1e9, 100 * median(ratios))
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
            let cfg = PixArtConfig(
                inputSize: size, patchSize: patch, inChannels: channels, hiddenSize: hidden,
                depth: depth, numHeads: numHeads, captionChannels: captionChannels,
                captionTokens: captionTokens,
                learnSigma: false, isRefiner: false)
            try cfg.validate(source: "bench")
            let w = PixArtWeights(config: cfg)
            w.randomize(seed: 1)
            return (PixArtModel(weights: w), cfg.flopsPerSample, describe(cfg))
        }
        let cfg = SiTConfig(
            inputSize: size, patchSize: patch, inChannels: channels, hiddenSize: hidden, depth: depth,
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

    /// Runs this benchmark again in a child process whose OpenBLAS loads `core` (OPENBLAS_CORETYPE, kept as given).
    func runChild(core: String) throws {
        var args = Array(CommandLine.arguments.dropFirst())
        if let i = args.firstIndex(of: "--blas-cores") {
            var j = i + 1
            while j < args.count && !args[j].hasPrefix("--") { j += 1 }
            args.removeSubrange(i..<j)
        }
        print("\n--- OpenBLAS core \(core) (child process, OPENBLAS_CORETYPE=\(core)) ---")
        fflush(stdout)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env[BLASCoreSelection.coreVariable] = core
        env[BLASCoreSelection.markerVariable] = nil
        p.environment = env
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw FlowError("bench model with OpenBLAS core \(core) failed") }
    }

    private func median(_ a: [Double]) -> Double {
        let s = a.sorted()
        let n = s.count
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}
