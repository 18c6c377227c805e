import CFlowKernels
import COpenBLAS

/// Row-invariant products: a row of C = op(A)·op(B) must not depend on how many other rows the call has, so that a
/// sample's bytes do not depend on its batch (the sampler's batch-composition guarantee).
///
/// OpenBLAS's AVX2/AVX-512 kernels break that: Haswell computes the M-edge rows (M mod 12) with other kernels, and
/// SkylakeX/Cooperlake route calls with M·N ≤ 1200 to a small-matrix kernel (measured on 0.3.21 with every M from 1
/// to 400; the generic Prescott kernels differ at odd M). Known gap: with Haswell kernels the SiT batch-composition
/// test still differs in a few bits (something besides these products; AVX-512 and generic kernels pass). So the rows of C are computed in calls whose M is a multiple
/// of `rowBlock` and large enough that M·N > 1200: the leading multiple-of-block rows in one call, the remaining rows
/// copied into a zero-padded block of a thread's scratch buffer. Every row then goes through full tiles of the same
/// kernel. With AVX-512 kernels edge rows agree too, so only calls below the threshold are padded (the conditioning
/// products of small batches); the token-path products of the shipped SiT run unchanged.
extension Gemm {
    /// Rows per block: a multiple of every OpenBLAS sgemm M-unroll on x86-64 (4, 8, 12, 16, 24, 48).
    static let rowBlock = 48

    /// Every kernel family but AVX-512 computes M-edge rows differently (Haswell: M mod 12, Prescott: odd M), and the
    /// AVX2 ones change paths below M·N·K = 10⁶; unknown cores are treated the same way. AVX-512 kernels (SkylakeX,
    /// Cooperlake, SapphireRapids) only need M·N > 1200.
    static let edgeSensitive = coreTier != 3

    /// The vector tier of OpenBLAS's core (read once: a String per call would allocate in the sampling hot path).
    static let coreTier = BLASCoreSelection.tier(ofCore: backend.core)

    /// Smallest multiple of `rowBlock` rows with rows·n > 1200 (and rows·n·k > 10⁶ on AVX2 kernels, at most 576
    /// rows): outside the small-matrix kernels.
    @inline(__always)
    static func minimumRows(n: Int, k: Int) -> Int {
        let product = coreTier == 2 ? Swift.min(576, 1_000_000 / Swift.max(n * k, 1) + 1) : 0
        let need = Swift.max(rowBlock, 1200 / Swift.max(n, 1) + 1, product)
        return (need + rowBlock - 1) / rowBlock * rowBlock
    }

    /// C[m×n] = alpha·A·op(B) + beta·C (A not transposed: row i of C comes from row i of A), row-invariant.
    static func rowInvariantSgemm(
        transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>,
        lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let tb = transB ? CblasTrans : CblasNoTrans
        let minRows = minimumRows(n: n, k: k)
        // AVX-512 kernels: every row of a call with M ≥ minRows is the same, edges included.
        var main = edgeSensitive ? m / rowBlock * rowBlock : (m >= minRows ? m : 0)
        if main < minRows { main = 0 }
        if main > 0 {
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, tb, blasint(main), blasint(n), blasint(k), alpha, a, blasint(lda),
                b, blasint(ldb), beta, c, blasint(ldc))
        }
        let rem = m - main
        guard rem > 0 else { return }
        let rows = Swift.max(minRows, (rem + rowBlock - 1) / rowBlock * rowBlock)
        // Scratch: A block [rows × k] then C block [rows × n], packed; padding rows are zero.
        guard let sa = ft_thread_scratch(rows * (k + n)) else {
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, tb, blasint(rem), blasint(n), blasint(k), alpha, a + main * lda,
                blasint(lda), b, blasint(ldb), beta, c + main * ldc, blasint(ldc))
            return
        }
        let sc = sa + rows * k
        for r in 0..<rem { (sa + r * k).update(from: a + (main + r) * lda, count: k) }
        (sa + rem * k).update(repeating: 0, count: (rows - rem) * k)
        if beta != 0 {
            for r in 0..<rem { (sc + r * n).update(from: c + (main + r) * ldc, count: n) }
            (sc + rem * n).update(repeating: 0, count: (rows - rem) * n)
        }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, tb, blasint(rows), blasint(n), blasint(k), alpha, sa, blasint(k),
            b, blasint(ldb), beta, sc, blasint(n))
        for r in 0..<rem { (c + (main + r) * ldc).update(from: sc + r * n, count: n) }
    }
}
