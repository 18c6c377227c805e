import FlowTensor

/// Per-token features of a batch of prompts, padded to a common length L.
///
/// `features` [N, L, D] float32 are the encoder's last hidden states at real tokens and 0 at padding; `mask`
/// [N, L] is 1 at real tokens ([CLS] … [SEP]) and 0 at padding; `tokenIDs[i]` are prompt i's ids (its length).
public struct TextEncoding: Sendable {
    public var tokenIDs: [[Int32]]
    public var features: Tensor
    public var mask: Tensor

    public var count: Int { tokenIDs.count }
    public var length: Int { features.shape[1] }
    public var dim: Int { features.shape[2] }
    public var lengths: [Int] { tokenIDs.map(\.count) }

    /// Sentence embeddings [N, D]: the mean of the features over real tokens, L2-normalised
    /// (sentence-transformers' Pooling(mean) + Normalize).
    public func sentenceEmbeddings() -> Tensor {
        let n = count
        let l = length
        let d = dim
        var out = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            let len = tokenIDs[i].count
            features.data.withUnsafeBufferPointer { f in
                out.withUnsafeMutableBufferPointer { o in
                    TextPooling.meanNormalized(
                        f.baseAddress! + i * l * d, rows: len, dim: d,
                        out: o.baseAddress! + i * d)
                }
            }
        }
        return Tensor(shape: [n, d], data: out)
    }
}

/// Mean pooling and L2 normalisation of token features (float64 sums).
public enum TextPooling {
    /// out[D] = m / max(‖m‖, 1e-12) with m = mean of the `rows` rows of x [rows, D].
    public static func meanNormalized(
        _ x: UnsafePointer<Float>, rows: Int, dim: Int,
        out: UnsafeMutablePointer<Float>
    ) {
        var acc = [Double](repeating: 0, count: dim)
        for r in 0..<rows {
            for j in 0..<dim { acc[j] += Double(x[r * dim + j]) }
        }
        var norm2 = 0.0
        for j in 0..<dim {
            acc[j] /= Double(max(rows, 1))
            norm2 += acc[j] * acc[j]
        }
        let inv = 1 / max(norm2.squareRoot(), 1e-12)
        for j in 0..<dim { out[j] = Float(acc[j] * inv) }
    }
}
