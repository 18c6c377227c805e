import ArgumentParser
import FlowApp
import FlowModels
import FlowStats
import FlowTensor
import Foundation

/// `flowturbo stats …`: reference statistics and comparisons of stats/sample files.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract:
            "Reference statistics (.npz with mu/sigma) and metric comparisons (FD, precision/recall, density/coverage, KID, SWD).",
        subcommands: [StatsReferenceCommand.self, StatsCompareCommand.self, StatsAdherenceCommand.self])
}

/// `flowturbo stats reference`: mu/sigma, mergeable sums, per-class sums and a seeded sample reservoir → .npz.
struct StatsReferenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reference",
        abstract:
            "Write reference statistics from MNIST IDX images, a latent/sample file, or a gmm:* model (exact moments).")

    @Option(help: "MNIST-style IDX images (e.g. t10k-images-idx3-ubyte.gz); pixels map to [-1, 1] as p/127.5 - 1.")
    var idx: String?
    @Option(help: "IDX labels for --idx (enables per-class moments).")
    var labels: String?
    @Option(help: "Samples as .npy (N, …) or .npz (arr_0 or samples, labels optional).")
    var latents: String?
    @Option(
        help: "A gmm:* preset or mixture file: exact analytic mean/covariance, globally and per class (no samples).")
    var model: String?
    @Option(help: "Quad-canvas prompt file: reference canvases from MNIST test in the slot classifier's feature space.")
    var quadPrompts: String?
    @Option(help: "With --quad-prompts: reference canvases per prompt.")
    var imagesPerPrompt = 1
    @Option(help: "With --quad-prompts: MNIST directory (t10k files).")
    var data = QuadAdherence.defaultData
    @Option(help: "With --quad-prompts: slot classifier (default: the shipped one).")
    var slotClassifier: String?
    @Option(help: "Output .npz.")
    var out: String
    @Option(help: ArgumentHelp(stringLiteral: FeatureSpaces.help))
    var features = "raw"
    @Option(help: "Output dimension of --features random-projection.")
    var projectionDim = 64
    @Option(help: "Seed of the random projection.")
    var featureSeed: UInt64 = 0
    @Option(help: "Samples kept in the file for PRDC/KID/SWD (seeded reservoir; 0 = none).")
    var reservoir = 10000
    @Option(help: "Seed of the sample reservoir.")
    var seed: UInt64 = 0

    func run() throws {
        let sources = [idx, latents, model, quadPrompts].compactMap { $0 }
        guard sources.count == 1 else {
            throw FlowError("stats reference: give exactly one of --idx, --latents, --model or --quad-prompts")
        }
        if let spec = model { return try writeAnalytic(spec) }
        if let q = quadPrompts { return try writeQuadReference(q) }
        var x: [Float]
        var d: Int
        var lab: [Int32]?
        let src: String
        if let path = idx {
            let im = try IDX.readImages(path)
            d = im.rows * im.cols
            x = im.pixels.map { Float($0) / 127.5 - 1 }
            src = path
            if let lp = labels {
                let l = try IDX.readLabels(lp)
                guard l.count == im.count else {
                    throw FlowError("\(lp): \(l.count) labels for \(im.count) images; pass the matching labels file")
                }
                lab = l.map { Int32($0) }
            }
        } else {
            let set = try StatsSet.load(latents!)
            guard let s = set.samples else {
                throw FlowError("\(latents!): holds statistics only; stats reference needs samples (.npy or arr_0)")
            }
            x = s
            d = set.dimension
            lab = set.labels
            src = latents!
            if labels != nil { throw FlowError("--labels goes with --idx; put labels in the .npz under 'labels'") }
        }
        let fmap = try FeatureSpaces.make(
            features, inputDimension: d, projectionDimension: projectionDim, seed: featureSeed)
        let rows = x.count / d
        if !(fmap is RawFeatures) {
            var f = [Float](repeating: 0, count: rows * fmap.outputDimension)
            x.withUnsafeBufferPointer { xp in
                f.withUnsafeMutableBufferPointer { fmap.features(xp.baseAddress!, rows: rows, out: $0.baseAddress!) }
            }
            x = f
            d = fmap.outputDimension
        }
        var set = try StatsSet(samples: x, dimension: d, labels: lab, source: src)
        if reservoir <= 0 {
            set.samples = nil
            set.labels = nil
        } else if rows > reservoir {
            var r = Reservoir(capacity: reservoir, dimension: d, seed: seed)
            x.withUnsafeBufferPointer { xp in
                if let l = lab {
                    l.withUnsafeBufferPointer {
                        r.add(firstIndex: 0, rows: rows, vectors: xp.baseAddress!, labels: $0.baseAddress!)
                    }
                } else {
                    r.add(firstIndex: 0, rows: rows, vectors: xp.baseAddress!, labels: nil)
                }
            }
            let s = r.samples()
            set.samples = s.data
            set.labels = lab == nil ? nil : s.labels
        }
        try set.write(out, extra: [("feature_dim", i64([Int64(d)]))])
        print(
            "wrote \(out): \(rows) samples, D = \(d) (\(fmap.name)), \(set.classMoments.count) classes, \(set.sampleRows) samples kept"
        )
    }

    /// Exact moments of a Gaussian-mixture field, stored as sums about the mean (count 2, so Σ = outer).
    func writeAnalytic(_ spec: String) throws {
        guard let g = try ModelLoader.load(spec) as? GaussianMixtureField else {
            throw FlowError("--model \(spec) is not a Gaussian mixture; exact moments exist only for gmm:* fields")
        }
        guard features == "raw" else { throw FlowError("--model gives raw-space moments; drop --features") }
        let d = g.dimension
        func exact(_ c: Int?) throws -> Moments {
            let (mu, cov) = try MixtureMoments.moments(
                weights: g.weights, means: g.means, variances: g.variances,
                classes: g.numClasses, components: g.componentsPerClass, dimension: d, of: c)
            return try Moments(dimension: d, count: 2, shift: mu, sum: [Double](repeating: 0, count: d), outer: cov)
        }
        let global = try exact(nil)
        var perClass: [Int: Moments] = [:]
        for c in 0..<g.numClasses { perClass[c] = try exact(c).recentered(to: global.shift) }
        let set = try StatsSet(moments: global, classMoments: perClass, source: spec)
        try set.write(out, extra: [("analytic", i64([1])), ("feature_dim", i64([Int64(d)]))])
        print("wrote \(out): exact moments of \(spec), D = \(d), \(g.numClasses) classes")
    }

    func i64(_ v: [Int64]) -> NPYArray {
        NPYArray(dtype: .int64, shape: [v.count], bytes: v.withUnsafeBytes { [UInt8]($0) })
    }
}

/// `flowturbo stats compare A B`: FD always; PRDC, KID, SWD when both hold samples. A = generated, B = reference.
struct StatsCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare generated A against reference B (.npz with mu/sigma or arr_0 samples, or .npy samples).")

    @Argument(help: "Generated set: .npy (N, …) samples or .npz (mu/sigma, sums, and/or arr_0/samples).")
    var a: String
    @Argument(help: "Reference set, same formats.")
    var b: String
    @Flag(help: "Print exactly one JSON object (fd, precision, recall, density, coverage, kid, kid_std, swd, …).")
    var json = false
    @Option(name: .customLong("k-pr"), help: "k of precision/recall.")
    var kPR = 3
    @Option(name: .customLong("k-dc"), help: "k of density/coverage.")
    var kDC = 5
    @Option(help: "KID subset size (capped at the smaller set).")
    var kidSubsetSize = 1000
    @Option(help: "Number of KID subsets.")
    var kidSubsets = 100
    @Option(help: "SWD random directions.")
    var swdDirections = 128
    @Option(help: "Seed of KID subsets, SWD directions and the sample reservoir.")
    var seed: UInt64 = 0
    @Option(help: "Samples per side for PRDC/KID/SWD (seeded reservoir beyond this).")
    var maxSamples = 10000
    @Flag(help: "Also report per-sample RMSE: A and B are runs of the same seeds (same N, order and shape).")
    var rmse = false
    @Option(
        help: ArgumentHelp(
            stringLiteral: FeatureSpaces.help
                + " Sample files are mapped; a statistics-only file must already be in that space."))
    var features = "raw"
    @Option(help: "Output dimension of --features random-projection.")
    var projectionDim = 64
    @Option(help: "Seed of the random projection.")
    var featureSeed: UInt64 = 0

    func run() throws {
        var o = MetricOptions()
        o.kPR = kPR
        o.kDC = kDC
        o.kidSubsetSize = kidSubsetSize
        o.kidSubsets = kidSubsets
        o.swdDirections = swdDirections
        o.seed = seed
        o.maxSamples = maxSamples
        guard kPR >= 1, kDC >= 1, kidSubsetSize >= 2, kidSubsets >= 1, swdDirections >= 1, maxSamples >= 2 else {
            throw FlowError(
                "stats compare: k, subset sizes, subsets, directions and max samples must be positive (subset size, max samples ≥ 2)"
            )
        }
        let ga = try FeatureSpaces.apply(
            features, to: StatsSet.load(a), path: a, projectionDimension: projectionDim, seed: featureSeed)
        let rb = try FeatureSpaces.apply(
            features, to: StatsSet.load(b), path: b, projectionDimension: projectionDim, seed: featureSeed)
        let m = try Evaluation.compare(generated: ga, reference: rb, options: o)
        var err: RMSEResult? = nil
        if rmse {
            guard let sa = ga.samples, let sb = rb.samples, ga.sampleRows == ga.count, rb.sampleRows == rb.count else {
                throw FlowError("--rmse needs every sample of both runs (.npy or arr_0, not statistics or a reservoir)")
            }
            err = try RMSE.compute(sa, reference: sb, dimension: ga.dimension)
        }
        if json {
            var j = Report.metricsJSON(m)
            if let e = err { j["rmse"] = ["mean": e.mean, "max": e.max, "samples": e.samples] }
            j["dimension"] = ga.dimension
            j["generated"] = ["path": a, "samples": ga.sampleRows, "count": ga.count]
            j["reference"] = ["path": b, "samples": rb.sampleRows, "count": rb.count]
            print(try Report.serialize(j, pretty: false))
            return
        }
        func f(_ v: Double) -> String { String(format: "%.6f", v) }
        print(
            "generated  \(a): \(ga.sampleRows > 0 ? "\(ga.sampleRows) samples" : "statistics only"), D = \(ga.dimension)"
        )
        print(
            "reference  \(b): \(rb.sampleRows > 0 ? "\(rb.sampleRows) samples" : "statistics only"), D = \(rb.dimension)"
        )
        print(
            "FD         \(f(m.fd.distance))  (mean term \(f(m.fd.meanTerm)), covariance term \(f(m.fd.covarianceTerm)))"
        )
        if m.fd.clampedEigenvalues > 0 {
            print(
                "           \(m.fd.clampedEigenvalues) negative eigenvalues clamped to 0 (most negative \(m.fd.mostNegativeEigenvalue))"
            )
        }
        if let p = m.prdc {
            print("precision  \(f(p.precision))  (k = \(kPR))\nrecall     \(f(p.recall))  (k = \(kPR))")
            print("density    \(f(p.density))  (k = \(kDC))\ncoverage   \(f(p.coverage))  (k = \(kDC))")
        }
        if let k = m.kid { print("KID        \(f(k.kid)) ± \(f(k.std))  (\(k.subsets) subsets of \(k.subsetSize))") }
        if let s = m.swd { print("SWD        \(f(s))  (\(swdDirections) directions)") }
        if m.prdc == nil && m.kid == nil { print("(sample metrics need samples on both sides: .npy or arr_0)") }
        for (c, v) in m.perClassFD.sorted(by: { $0.key < $1.key }) { print("FD class \(c)  \(f(v))") }
        if let e = err { print("RMSE       mean \(f(e.mean)), max \(f(e.max)) over \(e.samples) samples") }
    }
}
