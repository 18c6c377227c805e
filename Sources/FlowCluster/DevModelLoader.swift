import FlowModels
import FlowTensor

/// Stand-in for FlowModels' `ModelLoader` until it lands (gmm:synthetic only). Internal: the
/// public one shadows nothing and this file is deleted when the sampler engineer's version exists.
enum ModelLoader {
    static func load(_ spec: String, heads: Int? = nil, refiner: Bool? = nil) throws -> VelocityField {
        if spec == "gmm:synthetic" { return GaussianMixtureField.synthetic() }
        throw FlowError("unknown model \(spec); presets: gmm:synthetic")
    }
    static func digest(_ spec: String) throws -> String { "dev-" + spec }
    static var defaultPredictorSpec: String { "gmm:synthetic" }
}
