import FlowModels
import FlowSampler
import FlowTensor

/// Caption features for `flowturbo sample` on a text-conditioned model: an .npz with `features` (N, L, C) float32
/// and `mask` (N, L) (1 = token, 0 = padding), e.g. a T5/MiniLM encoder's token states. Sample i uses row i mod N.
struct CaptionFeatures {
    let batch: CaptionBatch

    init(path: String, model: VelocityField) throws {
        guard let field = model as? CaptionConditionedField else {
            throw FlowError(
                "\(path): caption features need a text-conditioned model (PixArt-α); this one takes "
                    + "class labels (use --classes)")
        }
        let arrays = try NPZ.read(path)
        guard let f = arrays["features"], let m = arrays["mask"] else {
            throw FlowError(
                "\(path): expected arrays 'features' (N, L, C) and 'mask' (N, L), found "
                    + arrays.keys.sorted().joined(separator: ", "))
        }
        batch = try CaptionBatch.from(features: f, mask: m)
        guard batch.channels == field.captionChannels else {
            throw FlowError(
                "\(path): features have \(batch.channels) channels per token, the model's caption "
                    + "projection reads \(field.captionChannels)")
        }
    }

    /// The samples' conditions for `SamplingProgram.sample`: sample i uses row i mod N.
    var conditions: SampleConditions {
        .captions(features: batch.features.data, mask: batch.mask, length: batch.length, rows: batch.rows)
    }
}
