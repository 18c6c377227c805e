import COpenBLAS
import FlowTensor

/// A map from flattened samples (D_in floats) to the feature vectors statistics are computed on.
///
/// `RawFeatures` (identity) is the default and what an external numpy/scipy check computes;
/// `RandomProjection` gives a fixed low-dimensional space for any latent shape; a trained
/// classifier's penultimate layer can conform later.
public protocol FeatureMap {
    /// Input dimension (product of the sample shape).
    var inputDimension: Int { get }
    /// Feature dimension.
    var outputDimension: Int { get }
    /// Stable name written into reports and stats files, e.g. "raw" or "random-projection-64-seed0".
    var name: String { get }
    /// Maps `rows` inputs to `rows × outputDimension` features.
    func features(_ x: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>)
}

/// Identity features.
public struct RawFeatures: FeatureMap {
    /// Input dimension D_in.
    public let inputDimension: Int
    /// Equal to the input dimension.
    public var outputDimension: Int { inputDimension }
    /// "raw".
    public var name: String { "raw" }
    /// Identity on `dimension`-vectors.
    public init(dimension: Int) { inputDimension = dimension }
    /// Applies the map (see `FeatureMap.features`).
    public func features(_ x: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>) {
        out.update(from: x, count: rows * inputDimension)
    }
}

/// f(x) = W x with W (D_out × D_in) entries N(0, 1/D_out) from `StatsRandom(seed)` row by row.
///
/// Johnson–Lindenstrauss: distances are preserved in expectation, so PRDC/KID/SWD stay meaningful
/// while covariances shrink to D_out × D_out.
public struct RandomProjection: FeatureMap {
    public let inputDimension: Int
    /// Output dimension D_out.
    public let outputDimension: Int
    /// Seed of W.
    public let seed: UInt64
    /// W, row-major (D_out × D_in).
    public let weights: [Float]
    /// e.g. "random-projection-64-seed0".
    public var name: String { "random-projection-\(outputDimension)-seed\(seed)" }

    /// Builds the projection deterministically from (input, output, seed).
    public init(inputDimension: Int, outputDimension: Int, seed: UInt64) {
        precondition(inputDimension > 0 && outputDimension > 0)
        self.inputDimension = inputDimension
        self.outputDimension = outputDimension
        self.seed = seed
        var rng = StatsRandom(seed: seed)
        let scale = 1 / Double(outputDimension).squareRoot()
        weights = (0..<(inputDimension * outputDimension)).map { _ in Float(rng.normal() * scale) }
    }

    public func features(_ x: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputDimension), Int32(inputDimension),
            1, x, Int32(inputDimension), weights, Int32(inputDimension), 0, out, Int32(outputDimension))
    }
}

/// Builds a feature map by name: "raw" or "random-projection" (with `dimension` and `seed`).
public enum FeatureMaps {
    /// The named map for inputs of `inputDimension`; unknown names throw listing the choices.
    public static func make(
        _ name: String, inputDimension: Int, projectionDimension: Int = 64, seed: UInt64 = 0
    ) throws -> FeatureMap {
        switch name {
        case "raw": return RawFeatures(dimension: inputDimension)
        case "random-projection":
            try Validate.count(projectionDimension, "projection dimension", 1...Bounds.maxFeatureDimension)
            try Validate.count(inputDimension, "input dimension", 1...Int.max)
            try Validate.fitsInMemory([inputDimension, projectionDimension], bytesPerElement: 4, "a random projection")
            return RandomProjection(inputDimension: inputDimension, outputDimension: projectionDimension, seed: seed)
        default: throw FlowError("unknown feature map '\(name)'; choose raw or random-projection")
        }
    }
}
