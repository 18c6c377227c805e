import FlowCluster
import FlowModels
import FlowStats
import FlowTensor
import FlowText
import FlowTraining
import Foundation

/// Quad-canvas prompt evaluation shared by `stats adherence`, `stats reference --quad-prompts` and run reports:
/// prompt adherence judged by the slot classifier, and canvas features (four slots' penultimate activations) for
/// Fréchet distances against reference canvases composed from MNIST test.
public enum QuadAdherence {
    /// Where MNIST is looked for when composing references.
    public static let defaultData = "data/mnist"
    /// Name of the canvas feature space in reports.
    public static func featureName(_ clf: SlotClassifier) -> String { "slot-classifier-4x\(clf.model.featureDim)" }

    /// The shipped slot classifier unless a path is given.
    public static func classifier(_ path: String?) throws -> SlotClassifier {
        try SlotClassifier.load(path ?? ModelDefaults.shipped(SlotClassifier.fileName))
    }

    /// Per-sample specs of a prompt file (each prompt `imagesPerPrompt` times in a row), or a one-line error
    /// naming the first prompt outside the quad-canvas grammar.
    public static func sampleSpecs(promptFile: String, imagesPerPrompt k: Int) throws -> [QuadSpec] {
        guard k >= 1 else { throw FlowError("images per prompt must be ≥ 1 (got \(k))") }
        var specs: [QuadSpec] = []
        for (i, p) in try PromptSet.load(promptFile).map(\.text).enumerated() {
            do { specs.append(try QuadCaptionParser.parse(p)) } catch {
                throw FlowError(
                    "\(promptFile): prompt \(i + 1) '\(p)' is not a quad-canvas caption "
                        + "(\(error)); see docs/quad-canvas.md for the grammar")
            }
        }
        return QuadReference.sampleSpecs(specs, imagesPerPrompt: k)
    }

    /// Checks that `count` samples of `dimension` values are quad canvases answering `specs`.
    public static func checkShape(count: Int, dimension: Int, specs: [QuadSpec], source: String) throws {
        guard dimension == QuadCanvas.pixels else {
            throw FlowError("\(source): samples have \(dimension) values; quad canvases are 1×32×32 (1024)")
        }
        guard count == specs.count else {
            throw FlowError(
                "\(source): \(count) samples for \(specs.count) prompt images; "
                    + "give the prompt file and images per prompt the samples were drawn with")
        }
    }

    /// Canvas features of the reference canvases for per-sample `specs` from MNIST test in `data`.
    public static func referenceFeatures(
        specs: [QuadSpec], data: String, seed: UInt64, classifier clf: SlotClassifier
    )
        throws -> [Float]
    {
        let composer = try QuadComposer(data: try MNISTData.load(directory: data, split: "t10k"))
        let canvases = QuadReference.canvases(composer, specs: specs, seed: seed)
        return try clf.canvasFeatures(canvases, count: specs.count)
    }

    /// FD between two feature sets (rows × clf.featureDim).
    public static func fd(_ a: [Float], _ b: [Float], dimension d: Int) throws -> FrechetResult {
        let sa = try StatsSet(samples: a, dimension: d, labels: nil, source: "samples", keepSamples: false)
        let sb = try StatsSet(samples: b, dimension: d, labels: nil, source: "reference", keepSamples: false)
        return try Frechet.distance(mu1: sa.mean, sigma1: sa.covariance, mu2: sb.mean, sigma2: sb.covariance)
    }
}
