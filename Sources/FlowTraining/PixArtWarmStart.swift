import FlowModels
import FlowTensor
import Foundation

/// Warm start of a PixArt training run from an existing model file: its trained tensors become the live
/// parameters and the EMA shadows (the caller keeps fresh AdamW moments and step 0), and the fixed tensors the
/// caller names (a predictor takes its null caption from the file; a refiner keeps its predictor's).
public enum PixArtWarmStart {
    /// Metadata key recording the file a run was warm-started from ("<file name> sha256 <hex>").
    public static let metadataKey = "flowturbo.train_init"

    /// Names of the config fields in which `a` and `b` differ, e.g. ["depth 2 vs 1"].
    public static func differences(_ a: PixArtConfig, _ b: PixArtConfig) -> [String] {
        zip(Mirror(reflecting: a).children, Mirror(reflecting: b).children).compactMap { x, y in
            let (u, v) = ("\(x.value)", "\(y.value)")
            return u == v ? nil : "\(x.label ?? "?") \(u) vs \(v)"
        }
    }

    /// Copies `path`'s tensors into `params`, `ema`'s shadows and `fixed`; the file's config must equal `config`.
    /// Returns the `metadataKey` value.
    public static func load(
        _ path: String, config: PixArtConfig, params: [TrainableParameter], ema: EMA,
        fixed: [(name: String, shape: [Int], buffer: Buffer)] = [], flag: Setting = .initFrom
    ) throws -> String {
        let f = try SafeTensors.load(path)
        guard let c = try PixArtConfig.fromMetadata(f.metadata, source: path) else {
            throw FlowError(
                "\(path): no '\(PixArtConfig.metadataKey)' metadata; pass a model written by flowturbo as \(flag)")
        }
        let diff = differences(c, config)
        guard diff.isEmpty else {
            throw FlowError(
                "\(path): \(flag) model config differs (\(diff.joined(separator: ", ")), file vs this run); "
                    + "use matching model flags or another \(flag) file")
        }
        for (k, p) in params.enumerated() {
            guard f.shape(p.name) != nil else {
                throw FlowError("\(path): \(flag) file lacks tensor '\(p.name)'; pass a complete model file")
            }
            let t = try f.tensor(p.name)
            guard t.count == p.param.count else {
                throw FlowError(
                    "\(path): tensor '\(p.name)' has \(t.count) values, this run needs \(p.param.count); "
                        + "pass a model of the same config")
            }
            p.param.copy(from: t.data)
            ema.shadow[k].copy(from: t.data)
        }
        for (name, shape, buf) in fixed { buf.copy(from: try f.tensor(name, shape: shape).data) }
        let name = (path as NSString).lastPathComponent
        return "\(name) sha256 \(SHA256.hex(try FileIO.read(path)))"
    }
}
