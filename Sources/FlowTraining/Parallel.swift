import Dispatch

/// Splits independent work over a few threads (the elementwise and per-sample kernels the SiT trainer
/// runs outside BLAS). Each part computes exactly what the serial loop would, so results are bit-identical.
public enum Parallel {
    /// Worker count for the trainer's non-BLAS kernels (the trainer keeps one attention scratch per part).
    public static let parts = 2

    /// Calls `body(lo, hi)` on `parts` contiguous ranges of 0..<n whose boundaries are multiples of `align`.
    public static func ranges(_ n: Int, align: Int = 8, _ body: (Int, Int) -> Void) {
        let p = max(1, min(parts, n / max(align, 1)))
        if p <= 1 {
            body(0, n)
            return
        }
        let per = ((n + p - 1) / p + align - 1) / align * align
        DispatchQueue.concurrentPerform(iterations: p) { k in
            let lo = min(k * per, n)
            let hi = min(lo + per, n)
            if lo < hi { body(lo, hi) }
        }
    }
}
