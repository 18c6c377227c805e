import FlowCluster
import FlowModels
import FlowStats
import FlowTensor
import FlowTraining

/// The MNIST digit classifier's penultimate layer as a statistics feature space (an Inception-free
/// "FID" for MNIST): `--features classifier` (the shipped `Models/classifier-mnist.safetensors`) or
/// `--features classifier:PATH`.
public struct ClassifierFeatures: FeatureMap {
    public let model: DigitClassifier
    public let path: String
    public var inputDimension: Int { model.inputSize }
    public var outputDimension: Int { model.featureDim }
    public var name: String { "classifier-penultimate-\(model.featureDim)" }

    public func features(_ x: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>) {
        let chunk = 1024
        let ws = model.workspace(rows: min(chunk, max(rows, 1)))
        var start = 0
        while start < rows {
            let n = min(chunk, rows - start)
            model.forward(x + start * inputDimension, rows: n, ws: ws)
            model.penultimate(of: ws, rows: n, out: out + start * outputDimension)
            start += n
        }
    }
}

/// Feature spaces of statistics and run reports: FlowStats' own (raw, random-projection) plus the trained classifier.
public enum FeatureSpaces {
    public static let help =
        "Feature space: raw (default), random-projection, or classifier[:PATH] (the MNIST classifier's penultimate layer)."

    /// The classifier file a `--features` value names (`classifier` → the shipped one), or nil for other spaces.
    public static func classifierPath(_ name: String) -> String? {
        if name == "classifier" { return ModelLoader.modelsDirectory + "/classifier-mnist.safetensors" }
        return name.hasPrefix("classifier:") ? String(name.dropFirst("classifier:".count)) : nil
    }

    public static func make(
        _ name: String, inputDimension: Int, projectionDimension: Int, seed: UInt64
    ) throws -> FeatureMap {
        guard let path = classifierPath(name) else {
            return try FeatureMaps.make(
                name, inputDimension: inputDimension, projectionDimension: projectionDimension, seed: seed)
        }
        let model = try DigitClassifier.load(path)
        guard inputDimension == model.inputSize else {
            throw RunSettingError.classifierInput(expected: model.inputSize, got: inputDimension)
        }
        return ClassifierFeatures(model: model, path: path)
    }

    /// Maps a loaded set into the feature space. A set already of the feature dimension is taken as given
    /// (e.g. a reference written with the same --features); otherwise every sample must be present.
    public static func apply(
        _ name: String, to set: StatsSet, path: String, projectionDimension: Int, seed: UInt64
    ) throws -> StatsSet {
        if name == "raw" { return set }
        if name == "random-projection", set.dimension == projectionDimension { return set }
        if name.hasPrefix("classifier"), set.dimension != 784 {
            let m = try make(name, inputDimension: 784, projectionDimension: projectionDimension, seed: seed)
            if set.dimension == m.outputDimension { return set }
        }
        let fmap = try make(name, inputDimension: set.dimension, projectionDimension: projectionDimension, seed: seed)
        guard let x = set.samples, set.sampleRows == set.count else {
            throw FlowError(
                "\(path): holds raw-space statistics, not every sample; recompute it with `flowturbo stats reference \(.features) \(name)`"
            )
        }
        let rows = set.sampleRows
        var f = [Float](repeating: 0, count: rows * fmap.outputDimension)
        x.withUnsafeBufferPointer { xp in
            f.withUnsafeMutableBufferPointer { fmap.features(xp.baseAddress!, rows: rows, out: $0.baseAddress!) }
        }
        return try StatsSet(samples: f, dimension: fmap.outputDimension, labels: set.labels, source: path)
    }
}
