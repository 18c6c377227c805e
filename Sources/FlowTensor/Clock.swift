#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Monotonic time and small timing helpers for benchmarks and stage timings (allocation-free `now`).
public enum Clock {
    /// Seconds on the monotonic clock.
    @inline(__always)
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Median of the wall times of `repeats` runs of `body` (after `warmup` untimed runs).
    public static func median(repeats: Int, warmup: Int = 1, _ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let t0 = now()
            body()
            times.append(now() - t0)
        }
        times.sort()
        let n = times.count
        return n % 2 == 1 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2])
    }

    /// Measures single-precision GEMM throughput (GFLOP/s, median) for an m×k by k×n product with the
    /// current OpenBLAS thread count: the peak that model benchmarks report their ratio against.
    public static func sgemmPeak(m: Int = 512, n: Int = 512, k: Int = 512, repeats: Int = 15) -> Double {
        let a = Buffer(count: m * k)
        let b = Buffer(count: k * n)
        let c = Buffer(count: m * n)
        var r = SeededRandom(seed: 1)
        a.copy(from: r.normals(m * k))
        b.copy(from: r.normals(k * n))
        let t = median(repeats: repeats, warmup: 2) {
            Gemm.sgemm(m: m, n: n, k: k, a: a.ptr, b: b.ptr, c: c.ptr)
        }
        return 2 * Double(m) * Double(n) * Double(k) / t / 1e9
    }
}
