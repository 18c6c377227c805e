import FlowCluster
import FlowModels
import FlowStats
import FlowTensor
import FlowTraining

/// Quality figures every class-conditional run on MNIST-shaped samples reports without a flag:
/// FD (and PRDC/KID/SWD) against the shipped MNIST-test statistics in the digit classifier's feature space,
/// and `class_agreement` from the shipped classifier. A reference of `none` turns both off.
public enum QualityDefaults {
    /// The reference value that turns quality figures off.
    public static let none = ReportRequest.none
    /// Shipped statistics of the 10,000 MNIST test images in the classifier's 256-d feature space.
    public static let referenceName = "mnist-test-classifier.npz"
    public static let classifierName = "classifier-mnist.safetensors"

    /// True when a run's samples are what the shipped classifier reads: 1×28×28 with 10 classes, no prompts.
    public static func isMNISTClassRun(_ spec: RunSpec) -> Bool {
        guard spec.promptFile == nil, let m = try? ModelLoader.load(spec.model, refiner: false) else { return false }
        return m.sampleShape == [1, 28, 28] && m.numClasses == 10
    }

    /// The reference file and metric space for the report: the flags when given, else the shipped defaults for
    /// MNIST-shaped class runs (when the files exist), else none.
    public static func reference(_ o: ReportRequest, spec: RunSpec) -> (path: String, features: String)? {
        if let r = o.reference { return r == none ? nil : (r, o.features) }
        let ref = ModelDefaults.shipped(referenceName)
        let clf = ModelDefaults.shipped(classifierName)
        guard FileIO.exists(ref), FileIO.exists(clf), isMNISTClassRun(spec) else { return nil }
        return (ref, "classifier")
    }

    /// Scores class agreement with the shipped classifier for MNIST-shaped class runs (nil otherwise or with
    /// reference `none`). Samples with non-finite values count as wrong.
    public static func classAgreement(_ o: ReportRequest, spec: RunSpec) -> RunOutput.QualityScorer? {
        let path = ModelDefaults.shipped(classifierName)
        guard o.reference != none, FileIO.exists(path), isMNISTClassRun(spec) else { return nil }
        return { samples, labels, shape in
            guard shape == [1, 28, 28], !labels.isEmpty else { return ([:], "") }
            let clf = try DigitClassifier.load(path)
            var pred = try clf.predict(samples, count: labels.count)
            for i in 0..<labels.count where !samples[(i * 784)..<((i + 1) * 784)].allSatisfy({ $0.isFinite }) {
                pred[i] = -1
            }
            let a = ClassAgreement(predicted: pred, requested: labels, classes: 10)
            return (["class_agreement": a.json], a.markdown(classifier: "the shipped digit classifier"))
        }
    }
}
