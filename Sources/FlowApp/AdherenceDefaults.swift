import FlowCluster
import FlowModels
import FlowStats
import FlowTensor
import FlowTraining

/// Quality figures of prompt runs whose prompt file parses entirely in the quad-canvas grammar: `prompt_adherence`
/// (slot classifier) and, when MNIST test is in `data/mnist`, FD in the slot classifier's canvas feature space
/// against reference canvases composed for the same prompts (seed 0), as `prompt_fd` (and `fd` when no
/// reference was given). A reference of `none` turns them off.
public enum AdherenceDefaults {
    /// Seed of the reference canvases of run reports.
    public static let referenceSeed: UInt64 = 0

    public static func scorer(_ o: ReportRequest, spec: RunSpec) -> RunOutput.QualityScorer? {
        let path = ModelDefaults.shipped(SlotClassifier.fileName)
        guard o.reference != QualityDefaults.none, FileIO.exists(path), let file = spec.promptFile,
            let specs = try? QuadAdherence.sampleSpecs(promptFile: file, imagesPerPrompt: spec.imagesPerPrompt)
        else { return nil }
        let explicitReference = o.reference != nil
        return { samples, _, shape in
            guard shape == [1, QuadCanvas.size, QuadCanvas.size] else { return ([:], "") }
            let n = samples.count / QuadCanvas.pixels
            let runSpecs = Array(specs.prefix(n))
            let clf = try SlotClassifier.load(path)
            let score = PromptAdherence(specs: runSpecs, predicted: try clf.predictSlots(samples, count: n))
            var json: [String: Any] = ["prompt_adherence": score.json]
            var md = score.markdown
            let data = QuadAdherence.defaultData
            let mnist = data + "/t10k-images-idx3-ubyte"
            if n >= 2, FileIO.exists(mnist + ".gz") || FileIO.exists(mnist) {
                let ref = try QuadAdherence.referenceFeatures(
                    specs: runSpecs, data: data, seed: referenceSeed,
                    classifier: clf)
                let gen = try clf.canvasFeatures(samples, count: n)
                let fd = try QuadAdherence.fd(gen, ref, dimension: clf.featureDim).distance
                json["prompt_fd"] = [
                    "fd": fd, "features": QuadAdherence.featureName(clf),
                    "reference": "quad canvases from \(data) t10k, seed \(referenceSeed)",
                ]
                if !explicitReference { json["fd"] = fd }
                md +=
                    "\nFD against MNIST-test quad canvases for the same prompts "
                    + "(\(QuadAdherence.featureName(clf))): \(String(format: "%.4f", fd))\n"
            }
            return (json, md)
        }
    }
}
