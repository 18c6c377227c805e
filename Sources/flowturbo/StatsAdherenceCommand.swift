import ArgumentParser
import FlowApp
import FlowStats
import FlowTensor
import FlowTraining
import Foundation

/// `flowturbo stats adherence`: GenEval-style prompt adherence of quad-canvas samples, printed as the
/// `prompt_adherence` JSON object of report.json.
struct StatsAdherenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adherence",
        abstract: "Score quad-canvas samples against their prompts with the slot classifier; "
            + "print prompt_adherence JSON.")

    @Option(help: "Samples (N, 1, 32, 32) as .npy or .npz (arr_0 or samples).")
    var samples: String
    @Option(help: "Prompt file (one prompt per line or JSONL), every prompt in the quad-canvas grammar.")
    var prompts: String
    @Option(help: "Consecutive samples per prompt.")
    var imagesPerPrompt = 1
    @Option(help: "Slot classifier (default: the shipped Models/slot-classifier.safetensors).")
    var classifier: String?
    @Option(help: "Reference statistics from `stats reference --quad-prompts` (adds fd to the output).")
    var reference: String?

    func run() throws {
        let specs = try QuadAdherence.sampleSpecs(promptFile: prompts, imagesPerPrompt: imagesPerPrompt)
        let set = try StatsSet.load(samples)
        guard let x = set.samples, set.sampleRows == set.count else {
            throw FlowError("\(samples): holds statistics only; adherence needs every sample (.npy or arr_0)")
        }
        try QuadAdherence.checkShape(count: set.sampleRows, dimension: set.dimension, specs: specs, source: samples)
        let clf = try QuadAdherence.classifier(classifier)
        let score = PromptAdherence(specs: specs, predicted: try clf.predictSlots(x, count: specs.count))
        var json = score.json
        if let r = reference {
            let ref = try StatsSet.load(r)
            let f = try clf.canvasFeatures(x, count: specs.count)
            let gen = try StatsSet(
                samples: f, dimension: clf.featureDim, labels: nil, source: samples,
                keepSamples: false)
            guard ref.dimension == gen.dimension else {
                throw FlowError(
                    "\(r): dimension \(ref.dimension), the slot classifier's canvas features have "
                        + "\(gen.dimension); write it with `flowturbo stats reference --quad-prompts`")
            }
            json["fd"] = try Frechet.distance(
                mu1: gen.mean, sigma1: gen.covariance, mu2: ref.mean,
                sigma2: ref.covariance
            ).distance
        }
        print(try Report.serialize(json))
    }
}

extension StatsReferenceCommand {
    /// `--quad-prompts`: reference canvases composed from MNIST test for every prompt image (seeded by `--seed`),
    /// mapped to the slot classifier's canvas features.
    func writeQuadReference(_ promptFile: String) throws {
        let specs = try QuadAdherence.sampleSpecs(promptFile: promptFile, imagesPerPrompt: imagesPerPrompt)
        let clf = try QuadAdherence.classifier(slotClassifier)
        let f = try QuadAdherence.referenceFeatures(specs: specs, data: data, seed: seed, classifier: clf)
        var set = try StatsSet(samples: f, dimension: clf.featureDim, labels: nil, source: promptFile)
        if reservoir <= 0 || specs.count > reservoir { set.samples = nil }
        try set.write(out, extra: [("feature_dim", i64([Int64(clf.featureDim)])), ("quad_seed", i64([Int64(seed)]))])
        print(
            "wrote \(out): \(specs.count) reference canvases from \(data), D = \(clf.featureDim) "
                + "(\(QuadAdherence.featureName(clf)))")
    }
}
