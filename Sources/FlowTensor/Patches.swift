/// Patchify (the strided-conv patch embedding's input side) and unpatchify (DiT's output layout).
///
/// Patchify reads image (c, a, b) order within a p×p patch — the layout of a Conv2d weight
/// [D, C, p, p] flattened to [D, C·p·p] — with tokens in row-major (i, j) order, as timm's
/// `PatchEmbed` flattens them. Unpatchify follows DiT: each token's p·p·C values are ordered
/// (p, q, c) (`einsum('nhwpqc->nchpwq')`).
public enum Patches {
    /// P[b·T + i·G + j, c·p·p + a·p + q] = src(c)[b, i·p + a, j·p + q], where channels 0..<cA come from
    /// `a` and channels cA..<cA+cB from `b` (the refiner's concat of x and v). Images are square.
    public static func patchify(
        _ a: UnsafePointer<Float>, channelsA cA: Int, _ b: UnsafePointer<Float>?, channelsB cB: Int,
        batch: Int, size: Int, patch p: Int, out: UnsafeMutablePointer<Float>
    ) {
        let g = size / p
        let tokens = g * g
        let cT = cA + cB
        let width = cT * p * p
        for n in 0..<batch {
            for c in 0..<cT {
                let img: UnsafePointer<Float> =
                    c < cA ? a + (n * cA + c) * size * size : b! + (n * cB + c - cA) * size * size
                for i in 0..<g {
                    for j in 0..<g {
                        let dst = out + (n * tokens + i * g + j) * width + c * p * p
                        for pa in 0..<p {
                            let src = img + (i * p + pa) * size + j * p
                            for q in 0..<p { dst[pa * p + q] = src[q] }
                        }
                    }
                }
            }
        }
    }

    /// out[b, c, i·p + pa, j·p + q] (+)= Y[b·T + i·G + j, (pa·p + q)·cOut + c] for c < `keep`.
    /// With `addend`, out = unpatchify(Y) + addend (the refiner's "+ v").
    public static func unpatchify(
        _ y: UnsafePointer<Float>, outChannels cOut: Int, keep: Int, batch: Int, size: Int,
        patch p: Int, addend: UnsafePointer<Float>? = nil, out: UnsafeMutablePointer<Float>
    ) {
        let g = size / p
        let tokens = g * g
        let width = p * p * cOut
        for n in 0..<batch {
            for i in 0..<g {
                for j in 0..<g {
                    let src = y + (n * tokens + i * g + j) * width
                    for pa in 0..<p {
                        for q in 0..<p {
                            if let addend {
                                for c in 0..<keep {
                                    let o = ((n * keep + c) * size + i * p + pa) * size + j * p + q
                                    out[o] = src[(pa * p + q) * cOut + c] + addend[o]
                                }
                            } else {
                                for c in 0..<keep {
                                    out[((n * keep + c) * size + i * p + pa) * size + j * p + q] =
                                        src[(pa * p + q) * cOut + c]
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Backward of `unpatchify` (without addend): dY[b·T + i·G + j, (pa·p + q)·cOut + c] = dout[b, c, i·p + pa, j·p + q]
    /// for c < `keep`, and 0 for the dropped channels (learn_sigma's second half).
    public static func unpatchifyBackward(
        dout: UnsafePointer<Float>, outChannels cOut: Int, keep: Int, batch: Int, size: Int,
        patch p: Int, dy: UnsafeMutablePointer<Float>
    ) {
        let g = size / p
        let tokens = g * g
        let width = p * p * cOut
        dy.update(repeating: 0, count: batch * tokens * width)
        for n in 0..<batch {
            for i in 0..<g {
                for j in 0..<g {
                    let dst = dy + (n * tokens + i * g + j) * width
                    for pa in 0..<p {
                        for q in 0..<p {
                            for c in 0..<keep {
                                dst[(pa * p + q) * cOut + c] =
                                    dout[((n * keep + c) * size + i * p + pa) * size + j * p + q]
                            }
                        }
                    }
                }
            }
        }
    }
}
