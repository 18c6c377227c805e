import FlowTensor

/// Caption token features for a batch: (N, L, C) float32 features and an (N, L) mask (1 = token, 0 = padding),
/// as a T5 encoder's `caption_embs` / `emb_masks` (PixArt-α's (N, 1, L, C) and (N, 1, 1, L) layouts also read).
public struct CaptionBatch: Sendable {
    public var features: Tensor
    public var mask: [Int32]
    public var rows: Int { features.shape[0] }
    public var length: Int { features.shape[1] }
    public var channels: Int { features.shape[2] }

    public init(features: Tensor, mask: [Int32]) {
        self.features = features
        self.mask = mask
    }

    /// Validates and converts decoded arrays; errors name the file (`featuresSource`, `maskSource`) and the fix.
    public static func from(features f: NPYArray, mask m: NPYArray) throws -> CaptionBatch {
        guard f.dtype == .float32 || f.dtype == .float64 else {
            throw FlowError(
                "\(f.source): caption features must be float32, got \(f.dtype.rawValue); "
                    + "save feats.astype(np.float32)")
        }
        var shape = f.shape
        if shape.count == 4 && shape[1] == 1 { shape.remove(at: 1) }
        guard shape.count == 3, shape[0] > 0, shape[1] > 0, shape[2] > 0 else {
            throw FlowError("\(f.source): caption features have shape \(f.shape), expected (N, L, C) token features")
        }
        let ms = m.shape.filter { $0 != 1 }
        let want = [shape[0], shape[1]].filter { $0 != 1 }
        guard ms == want, m.count == shape[0] * shape[1] else {
            throw FlowError(
                "\(m.source): caption mask has shape \(m.shape), expected (\(shape[0]), \(shape[1])) "
                    + "(1 = token, 0 = padding) to match the features")
        }
        let mask = try m.int64s().map { Int32($0 != 0 ? 1 : 0) }
        for r in 0..<shape[0] where !mask[(r * shape[1])..<((r + 1) * shape[1])].contains(1) {
            throw FlowError(
                "\(m.source): caption row \(r) has no token (mask all 0); give at least one real token "
                    + "(an empty prompt is the null caption, y_embedding with a full mask)")
        }
        return CaptionBatch(features: Tensor(shape: shape, data: f.floats()), mask: mask)
    }

    /// Rows `range` of the batch (features and mask).
    public func slice(_ range: Range<Int>) -> CaptionBatch {
        let l = length
        let c = channels
        let f = Array(features.data[(range.lowerBound * l * c)..<(range.upperBound * l * c)])
        return CaptionBatch(
            features: Tensor(shape: [range.count, l, c], data: f),
            mask: Array(mask[(range.lowerBound * l)..<(range.upperBound * l)]))
    }
}
