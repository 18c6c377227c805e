import XCTest

@testable import FlowTensor

/// `Gemm.sgemm` and `Gemm.linear` against float64 on every GEMM library that runs here (OpenBLAS always, oneDNN when
/// libdnnl.so.2 loads), with all transposes and padded leading dimensions.
final class GemmLibraryTests: XCTestCase {
    var rng = SeededRandom(seed: 5)

    func check(_ lib: GemmLibrary, file: StaticString = #filePath, line: UInt = #line) throws {
        let saved = Gemm.library
        defer { try? Gemm.select(saved) }
        try Gemm.select(lib)
        XCTAssertEqual(Gemm.library, lib)
        for (m, n, k) in [(7, 5, 9), (49, 49, 32), (33, 130, 17)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    // Leading dimensions padded by 3 so strides are exercised.
                    let lda = (ta ? m : k) + 3
                    let ldb = (tb ? k : n) + 3
                    let ldc = n + 3
                    let a = rng.normals((ta ? k : m) * lda)
                    let b = rng.normals((tb ? n : k) * ldb)
                    var c = rng.normals(m * ldc)
                    let c0 = c
                    Gemm.sgemm(
                        transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1.5, a: a, lda: lda, b: b, ldb: ldb,
                        beta: 0.25, c: &c, ldc: ldc)
                    var worst = 0.0
                    var scale = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var s = 0.0
                            for p in 0..<k {
                                let av = ta ? a[p * lda + i] : a[i * lda + p]
                                let bv = tb ? b[j * ldb + p] : b[p * ldb + j]
                                s += Double(av) * Double(bv)
                            }
                            let ref = 1.5 * s + 0.25 * Double(c0[i * ldc + j])
                            worst = max(worst, abs(Double(c[i * ldc + j]) - ref))
                            scale = max(scale, abs(ref))
                        }
                    }
                    XCTAssertLessThan(
                        worst / scale, 1e-5, "\(lib) \(m)×\(n)×\(k) transA \(ta) transB \(tb)",
                        file: file, line: line)
                    for i in 0..<m {
                        for j in n..<ldc {
                            XCTAssertEqual(
                                c[i * ldc + j], c0[i * ldc + j], "\(lib): padding of C untouched",
                                file: file, line: line)
                        }
                    }
                }
            }
        }
    }

    func testOpenBLAS() throws { try check(.openblas) }

    func testOneDNNWhenInstalled() throws {
        guard GemmLibrary.onednn.isAvailable else { throw XCTSkip("oneDNN (libdnnl.so.2) is not installed") }
        try check(.onednn)
        XCTAssertFalse(Gemm.oneDNNVersion.isEmpty)
    }
}
