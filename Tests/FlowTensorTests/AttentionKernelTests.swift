import XCTest

@testable import FlowTensor

/// The fused attention kernel (inference path of `Attention.forward`) in every instruction-set family, against a
/// float64 softmax attention, for token counts and head sizes around the 16-lane vectors (the shipped SiT: 49 × 32),
/// and against the two-GEMM path the training forward keeps (probabilities saved).
final class AttentionKernelTests: XCTestCase {
    func naive(_ qkv: [Float], batch: Int, tokens: Int, heads: Int, hd: Int) -> [Double] {
        let d = heads * hd
        var ref = [Double](repeating: 0, count: batch * tokens * d)
        func at(_ b: Int, _ t: Int, _ which: Int, _ h: Int, _ j: Int) -> Double {
            Double(qkv[(b * tokens + t) * 3 * d + which * d + h * hd + j])
        }
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<tokens {
                    var logits = (0..<tokens).map { s in
                        (0..<hd).map { at(b, i, 0, h, $0) * at(b, s, 1, h, $0) }.reduce(0, +) / Double(hd).squareRoot()
                    }
                    let mx = logits.max()!
                    logits = logits.map { Foundation.exp($0 - mx) }
                    let z = logits.reduce(0, +)
                    for j in 0..<hd {
                        ref[(b * tokens + i) * d + h * hd + j] = (0..<tokens).map {
                            logits[$0] / z * at(b, $0, 2, h, j)
                        }
                        .reduce(0, +)
                    }
                }
            }
        }
        return ref
    }

    func testFusedAttentionEveryFamilyAgainstFloat64() {
        var rng = SeededRandom(seed: 11)
        let saved = ElementwiseKernels.active
        defer { ElementwiseKernels.select(saved) }
        for (tokens, heads, hd) in [(1, 1, 4), (5, 3, 4), (17, 2, 10), (49, 4, 32), (16, 2, 16), (20, 1, 40)] {
            let batch = 2
            let d = heads * hd
            let qkv = rng.normals(batch * tokens * 3 * d, std: 1.5)
            let ref = naive(qkv, batch: batch, tokens: tokens, heads: heads, hd: hd)
            let scale = ref.map(abs).max()!
            var viaGemm = [Float](repeating: .nan, count: batch * tokens * d)
            var scratch = [Float](repeating: 0, count: Attention.scratchCount(tokens: tokens))
            var probs = [Float](repeating: 0, count: batch * heads * tokens * tokens)
            Attention.forward(
                qkv: qkv, batch: batch, tokens: tokens, heads: heads, headDim: hd, out: &viaGemm,
                scratch: &scratch, probs: &probs)
            for f in ElementwiseKernels.supported {
                ElementwiseKernels.select(f)
                var out = [Float](repeating: .nan, count: batch * tokens * d)
                Attention.forward(
                    qkv: qkv, batch: batch, tokens: tokens, heads: heads, headDim: hd, out: &out,
                    scratch: &scratch)
                var worst = 0.0
                var worstGemm = 0.0
                for i in 0..<out.count {
                    worst = max(worst, abs(Double(out[i]) - ref[i]))
                    worstGemm = max(worstGemm, abs(Double(out[i]) - Double(viaGemm[i])))
                }
                XCTAssertLessThan(worst / scale, 1e-5, "\(f) T \(tokens) H \(heads) hd \(hd)")
                XCTAssertLessThan(worstGemm / scale, 1e-5, "\(f) vs two-GEMM path, T \(tokens) hd \(hd)")
            }
        }
    }
}
