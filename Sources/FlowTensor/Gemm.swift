import CFlowKernels
import COpenBLAS
import Foundation

/// Matrix products through CBLAS (OpenBLAS) or oneDNN (`GemmLibrary`), row-major, and the PyTorch `nn.Linear` layer
/// built on them.
public enum Gemm {
    /// C[M×N] = alpha·op(A)·op(B) + beta·C, row-major; op = transpose when the flag is set.
    /// `lda`, `ldb`, `ldc` are row strides of the stored matrices (default: packed). With `rowInvariant` (default) and
    /// A not transposed, a row of C does not depend on M (see `rowInvariantSgemm`); pass false where M is fixed by
    /// the model (attention over a sample's tokens) or where bytes need not follow the batch (training).
    @inline(__always)
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
        rowInvariant: Bool = true
    ) {
        let lda = lda ?? (transA ? m : k)
        let ldb = ldb ?? (transB ? k : n)
        let ldc = ldc ?? n
        if useOneDNN {
            _ = ft_onednn_sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        if rowInvariant && !transA && m > 0 && n > 0 {
            rowInvariantSgemm(
                transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                beta: beta, c: c, ldc: ldc)
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// `nn.Linear` forward: out[rows×outF] = x[rows×inF] · Wᵀ + bias, with PyTorch's weight layout W[outF×inF].
    @inline(__always)
    public static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inF: Int, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, outF: Int, out: UnsafeMutablePointer<Float>,
        accumulate: Bool = false
    ) {
        if let bias, !accumulate {
            for r in 0..<rows { (out + r * outF).update(from: bias, count: outF) }
            sgemm(transB: true, m: rows, n: outF, k: inF, a: x, b: weight, beta: 1, c: out)
        } else {
            sgemm(transB: true, m: rows, n: outF, k: inF, a: x, b: weight, beta: accumulate ? 1 : 0, c: out)
            if let bias, accumulate { for r in 0..<rows { for j in 0..<outF { out[r * outF + j] += bias[j] } } }
        }
    }

    /// The same product always on OpenBLAS (the benchmarks' peak reference), whatever `library` is.
    public static func openblasSgemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k), 1, a, blasint(k),
            b, blasint(n), 0, c, blasint(n))
    }

    /// Limits OpenBLAS (and oneDNN when it is loaded) to `n` threads (workers and benchmarks use 1).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(n))
        ft_onednn_set_threads(Int32(n))
    }

    /// OpenBLAS's kernel family (e.g. "SkylakeX", "Haswell", "Prescott") and build configuration.
    public static var backend: (core: String, config: String) {
        (
            openblas_get_corename().map { String(cString: $0) } ?? "unknown",
            openblas_get_config().map { String(cString: $0) } ?? "unknown"
        )
    }

    /// A one-line hint when OpenBLAS runs its generic SSE kernels on a CPU with AVX2 or AVX-512, else nil.
    ///
    /// Debian's OpenBLAS 0.3.21 does not recognise recent Xeons (e.g. Sapphire/Emerald Rapids) and falls back to
    /// `Prescott`, about 5× slower. Nothing is forced: the user decides (`OPENBLAS_CORETYPE`), since the environment
    /// of some machines sets it on purpose.
    public static func slowKernelHint(cpuFlags: Set<String>? = nil) -> String? {
        let core = backend.core.lowercased()
        guard core == "prescott" || core == "core2" || core == "nehalem" || core == "atom" else { return nil }
        let flags = cpuFlags ?? cpuInfoFlags()
        let suggestion: String
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) {
            suggestion = "SkylakeX"
        } else if flags.isSuperset(of: ["avx2", "fma"]) {
            suggestion = "Haswell"
        } else {
            return nil
        }
        let unit = suggestion == "SkylakeX" ? "AVX-512" : "AVX2"
        return "OpenBLAS runs its generic \(backend.core) kernels on a CPU with \(unit); "
            + "OPENBLAS_CORETYPE=\(suggestion) selects the fast ones "
            + "(check results with the test suite on that machine)"
    }

    /// Flags of the first CPU in /proc/cpuinfo (empty when unreadable).
    public static func cpuInfoFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// `nn.Linear` backward (llm.c style): dW += doutᵀ·x, db += Σ_rows dout, and dx = dout·W
    /// (`dx += …` when `accumulateDx`). Any of `dx`, `dW`, `db` may be nil to skip it.
    @inline(__always)
    public static func linearBackward(
        dout: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int, inF: Int,
        weight: UnsafePointer<Float>, outF: Int,
        dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool = false,
        dW: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?
    ) {
        if let dx {
            sgemm(m: rows, n: inF, k: outF, a: dout, b: weight, beta: accumulateDx ? 1 : 0, c: dx, rowInvariant: false)
        }
        if let dW {
            sgemm(transA: true, m: outF, n: inF, k: rows, a: dout, b: x, beta: 1, c: dW)
        }
        if let db {
            for r in 0..<rows {
                let g = dout + r * outF
                for j in 0..<outF { db[j] += g[j] }
            }
        }
    }
}
