import XCTest

@testable import FlowTensor

/// A row of `Gemm.sgemm`'s result must not depend on how many rows the call has (batch-composition bit identity of
/// sampling). Every M from 1 to 130 against the same rows of one 400-row call, bit for bit, for the shapes of the
/// shipped SiT and small ones (narrow N brings OpenBLAS's small-matrix kernel in), with and without transposed B,
/// bias-style beta = 1 and padded leading dimensions.
final class GemmRowInvarianceTests: XCTestCase {
    func testRowsDoNotDependOnTheRowCount() {
        var rng = SeededRandom(seed: 9)
        let big = 400
        for (n, k, transB, beta) in [
            (384, 128, true, Float(1)), (128, 512, true, 1), (16, 128, true, 1),
            (96, 32, true, 0), (4, 64, true, 1), (768, 128, true, 1), (40, 24, false, 0),
        ] {
            let lda = k + 2
            let ldb = (transB ? k : n) + 1
            let ldc = n + 3
            let a = rng.normals(big * lda)
            let b = rng.normals((transB ? n : k) * ldb)
            let c0 = rng.normals(big * ldc)
            var ref = c0
            Gemm.sgemm(
                transB: transB, m: big, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &ref, ldc: ldc)
            var mismatched: [Int] = []
            for m in 1...130 {
                var c = Array(c0[0..<(m * ldc)])
                Gemm.sgemm(
                    transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &c, ldc: ldc)
                for r in 0..<m where !(0..<n).allSatisfy({ c[r * ldc + $0].bitPattern == ref[r * ldc + $0].bitPattern })
                {
                    mismatched.append(m)
                    break
                }
                for r in 0..<m { for j in n..<ldc { XCTAssertEqual(c[r * ldc + j], c0[r * ldc + j], "padding") } }
            }
            XCTAssertEqual(
                mismatched, [],
                "n \(n) k \(k) transB \(transB) on \(Gemm.backend.core): M values whose rows "
                    + "differ from a 400-row call")
        }
    }
}
