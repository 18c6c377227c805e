/// adaLN-single (PixArt-α): one shared `t_block` output t0 (6·D per row) plus a learned per-block
/// `scale_shift_table` (6, D) gives each block its shift/scale/gate vectors, `table[None] + t0.reshape(B, 6, D)`.
public enum AdaLNSingle {
    /// out[b, :] = table + t0[b, :] over `width` floats (6·D for a block, 2·D for the final layer);
    /// rows of `t0` are `t0Stride` apart and rows of `out` are `outStride` apart.
    @inline(__always)
    public static func forward(
        t0: UnsafePointer<Float>, t0Stride: Int, table: UnsafePointer<Float>, rows: Int,
        width: Int, out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        for b in 0..<rows {
            let src = t0 + b * t0Stride
            let o = out + b * outStride
            for i in 0..<width { o[i] = table[i] + src[i] }
        }
    }

    /// Backward: dtable += Σ_b dout[b], dt0[b] += dout[b] (either may be nil to skip it).
    @inline(__always)
    public static func backward(
        dout: UnsafePointer<Float>, doutStride: Int, rows: Int, width: Int,
        dtable: UnsafeMutablePointer<Float>?, dt0: UnsafeMutablePointer<Float>?,
        dt0Stride: Int
    ) {
        for b in 0..<rows {
            let g = dout + b * doutStride
            if let dtable { for i in 0..<width { dtable[i] += g[i] } }
            if let dt0 {
                let o = dt0 + b * dt0Stride
                for i in 0..<width { o[i] += g[i] }
            }
        }
    }
}
