import FlowModels
import FlowSampler
import FlowTensor

/// Caption features for `flowturbo sample` on a text-conditioned model: an .npz with `features` (N, L, C) float32
/// and `mask` (N, L) (1 = token, 0 = padding), e.g. a T5/MiniLM encoder's token states. Sample i uses row i mod N.
struct CaptionFeatures {
    let batch: CaptionBatch

    init(path: String, model: VelocityField) throws {
        guard let field = model as? CaptionConditionedField else {
            throw FlowError("\(path): caption features need a text-conditioned model (PixArt-α); this one takes "
                            + "class labels (use --classes)")
        }
        let arrays = try NPZ.read(path)
        guard let f = arrays["features"], let m = arrays["mask"] else {
            throw FlowError("\(path): expected arrays 'features' (N, L, C) and 'mask' (N, L), found "
                            + arrays.keys.sorted().joined(separator: ", "))
        }
        batch = try CaptionBatch.from(features: f, mask: m)
        guard batch.channels == field.captionChannels else {
            throw FlowError("\(path): features have \(batch.channels) channels per token, the model's caption "
                            + "projection reads \(field.captionChannels)")
        }
    }

    /// Features and mask of samples first ..< first + count (row i mod N), for one program run.
    func rows(first: Int, count: Int) -> (features: [Float], mask: [Int32]) {
        let l = batch.length, c = batch.channels
        var f: [Float] = []
        var m: [Int32] = []
        f.reserveCapacity(count * l * c)
        m.reserveCapacity(count * l)
        for i in first..<(first + count) {
            let r = i % batch.rows
            f += batch.features.data[(r * l * c)..<((r + 1) * l * c)]
            m += batch.mask[(r * l)..<((r + 1) * l)]
        }
        return (f, m)
    }

    /// Runs the program on samples first ..< first + count with their captions.
    func run(_ program: SamplingProgram, seed: UInt64, first: Int, count: Int, out: UnsafeMutablePointer<Float>)
        -> RunStats {
        let (f, m) = rows(first: first, count: count)
        return f.withUnsafeBufferPointer { fp in
            m.withUnsafeBufferPointer { mp in
                program.run(seed: seed, firstIndex: first, count: count,
                            captions: CaptionInput(features: fp.baseAddress!, mask: mp.baseAddress!,
                                                   length: batch.length),
                            out: out)
            }
        }
    }
}
