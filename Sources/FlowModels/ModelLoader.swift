import FlowTensor
import Foundation

/// Resolves model specs used on the command line and in cluster assignments.
///
/// A spec is a preset (`gmm:synthetic`, `gmm:mnist`) or a safetensors path: a SiT or PixArt-α predictor/refiner
/// checkpoint, or a Gaussian-mixture file written by `flowturbo fit-gmm` (recognised by its metadata).
public enum ModelLoader {
    /// The built-in presets, for help texts and errors.
    public static let presets = ["gmm:synthetic", "gmm:mnist"]

    /// Loads "gmm:synthetic", "gmm:mnist" or a safetensors path (→ `SiTModel.load`). Error lists the presets if unknown.
    public static func load(_ spec: String, heads: Int? = nil, refiner: Bool? = nil) throws -> VelocityField {
        if spec.hasPrefix("gmm:") {
            if refiner == true {
                throw FlowError(
                    "\(spec) is an analytic predictor, not a refiner; pass a refiner checkpoint to \(.refiner)")
            }
            return try loadMixture(spec)
        }
        guard FileIO.exists(spec) else {
            throw FlowError(
                "model \"\(spec)\" is neither a preset (\(presets.joined(separator: ", "))) nor an existing safetensors file"
            )
        }
        let file = try SafeTensors.load(spec)
        if file.metadata["format"] == "flowturbo-gmm" {
            if refiner == true { throw FlowError("\(spec) is a Gaussian-mixture predictor, not a refiner") }
            return try GaussianMixtureField.load(spec)
        }
        if PixArtConfig.describes(file) { return try PixArtModel.load(file, heads: heads, refiner: refiner) }
        return try SiTModel.load(spec, heads: heads, refiner: refiner)
    }

    /// Path of the file behind a `gmm:` preset (nil for presets generated in code).
    public static func presetFile(_ spec: String) throws -> String? {
        switch spec {
        case "gmm:synthetic": return nil
        case "gmm:mnist": return modelsDirectory + "/gmm-mnist.safetensors"
        default:
            throw FlowError(
                "unknown preset \"\(spec)\"; presets: \(presets.joined(separator: ", ")), or a safetensors path")
        }
    }

    static func loadMixture(_ spec: String) throws -> GaussianMixtureField {
        guard let path = try presetFile(spec) else { return GaussianMixtureField.synthetic() }
        guard FileIO.exists(path) else {
            throw FlowError(
                "\(spec): \(path) not found; set FLOWTURBO_MODELS to the repository's Models/ directory or rebuild it with `flowturbo fit-gmm`"
            )
        }
        return try GaussianMixtureField.load(path)
    }

    /// Directory of shipped models: $FLOWTURBO_MODELS, else the first `Models/` found walking up from the
    /// executable's real path (/proc/self/exe), else ./Models.
    public static var modelsDirectory: String {
        if let env = ProcessInfo.processInfo.environment["FLOWTURBO_MODELS"], !env.isEmpty { return env }
        var buf = [CChar](repeating: 0, count: 4096)
        if realpath("/proc/self/exe", &buf) != nil {
            var dir = String(cString: buf)
            while let slash = dir.lastIndex(of: "/"), !dir.isEmpty {
                dir = String(dir[..<slash])
                let candidate = (dir.isEmpty ? "" : dir) + "/Models"
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), isDir.boolValue {
                    return candidate
                }
                if dir.isEmpty { break }
            }
        }
        return "./Models"
    }

    /// Default predictor spec for `sample`/`run`: a SiT checkpoint shipped as Models/sit-mnist.safetensors if present,
    /// else "gmm:mnist".
    public static var defaultPredictorSpec: String {
        let sit = modelsDirectory + "/sit-mnist.safetensors"
        return FileIO.exists(sit) ? sit : "gmm:mnist"
    }

    /// Hex SHA-256 of a model spec: the file bytes for files, the preset file for gmm:*, and for `gmm:synthetic`
    /// the float64 parameters (little-endian) with its shape, so any change to the generator changes the digest.
    public static func digest(_ spec: String) throws -> String {
        if spec.hasPrefix("gmm:") {
            if let path = try presetFile(spec) {
                guard FileIO.exists(path) else { throw FlowError("\(spec): \(path) not found") }
                return try SHA256.hex(file: path)
            }
            let g = GaussianMixtureField.synthetic()
            var bytes = Array("gmm:\(g.sampleShape):\(g.numClasses):\(g.componentsPerClass)".utf8)
            for arr in [g.weights, g.means, g.variances] {
                for v in arr { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
            }
            return SHA256.hex(bytes)
        }
        return try SHA256.hex(file: spec)
    }
}
