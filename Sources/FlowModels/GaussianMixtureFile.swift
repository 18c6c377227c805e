import FlowTensor
import Foundation

extension GaussianMixtureField {
    // MARK: file format

    /// Loads a mixture written by `write` (safetensors: `weights` K×M, `means`/`variances` K×M×D, config in metadata).
    public static func load(_ path: String) throws -> GaussianMixtureField {
        let f = try SafeTensors.load(path)
        guard f.metadata["format"] == "flowturbo-gmm" else {
            throw FlowError(
                "\(path): not a flowturbo Gaussian-mixture file (metadata format != flowturbo-gmm); write one with `flowturbo fit-gmm`"
            )
        }
        func int(_ key: String) throws -> Int {
            guard let s = f.metadata[key], let v = Int(s), v > 0 else {
                throw FlowError("\(path): metadata \"\(key)\" missing or not a positive integer")
            }
            return v
        }
        let k = try int("num_classes")
        let m = try int("components")
        guard let shapeString = f.metadata["sample_shape"] else {
            throw FlowError("\(path): metadata \"sample_shape\" missing")
        }
        let shape = shapeString.split(separator: ",").compactMap { Int($0) }
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
            throw FlowError("\(path): bad sample_shape \"\(shapeString)\"")
        }
        let d = shape.reduce(1, *)
        let w = try f.tensor("weights", shape: [k, m]).data.map(Double.init)
        let mu = try f.tensor("means", shape: [k, m, d]).data.map(Double.init)
        let v = try f.tensor("variances", shape: [k, m, d]).data.map(Double.init)
        return try GaussianMixtureField(
            sampleShape: shape, numClasses: k, componentsPerClass: m,
            weights: w, means: mu, variances: v)
    }

    /// Writes the mixture as float32 safetensors with its configuration in the metadata.
    public func write(_ path: String, extraMetadata: [String: String] = [:]) throws {
        let k = numClasses
        let m = componentsPerClass
        let d = dimension
        var meta = extraMetadata
        meta["format"] = "flowturbo-gmm"
        meta["num_classes"] = String(k)
        meta["components"] = String(m)
        meta["sample_shape"] = sampleShape.map(String.init).joined(separator: ",")
        try SafeTensors.write(
            path,
            tensors: [
                (name: "weights", tensor: Tensor(shape: [k, m], data: weights.map(Float.init))),
                (name: "means", tensor: Tensor(shape: [k, m, d], data: means.map(Float.init))),
                (name: "variances", tensor: Tensor(shape: [k, m, d], data: variances.map(Float.init))),
            ], metadata: meta)
    }
}
