import Foundation
import XCTest

@testable import FlowTensor

/// The C elementwise kernels in every instruction-set family this CPU runs (SSE2, AVX2+FMA, AVX-512), against naive
/// float64 references at every length 0…40 (tails of the 16-lane vectors, full vectors, both) and a few larger ones.
final class ElementwiseKernelTests: XCTestCase {
    var rng = SeededRandom(seed: 7)
    let lengths = Array(0...40) + [47, 49, 64, 100, 128, 257]

    /// Runs `body` once per supported family, then restores the family that was active.
    func forEachFamily(_ body: (ElementwiseKernels.Family) -> Void) {
        let saved = ElementwiseKernels.active
        defer { ElementwiseKernels.select(saved) }
        for f in ElementwiseKernels.supported {
            XCTAssertTrue(ElementwiseKernels.select(f))
            XCTAssertEqual(ElementwiseKernels.active, f)
            body(f)
        }
    }

    func testDefaultIsTheBestFamilyAndUnsupportedOnesAreRefused() {
        if ProcessInfo.processInfo.environment["FLOWTURBO_KERNELS"] == nil {
            XCTAssertEqual(ElementwiseKernels.active, ElementwiseKernels.best)
        }
        let flags = Gemm.cpuInfoFlags()
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) {
            XCTAssertEqual(ElementwiseKernels.best, .avx512)
        } else if flags.contains("avx2") && flags.contains("fma") {
            XCTAssertEqual(ElementwiseKernels.best, .avx2)
        }
        let saved = ElementwiseKernels.active
        for f in ElementwiseKernels.Family.allCases where f.rawValue > ElementwiseKernels.best.rawValue {
            XCTAssertFalse(ElementwiseKernels.select(f), "\(f) is not supported here")
            XCTAssertEqual(ElementwiseKernels.active, saved)
        }
    }

    func testGeluAndSiluEveryLength() {
        forEachFamily { f in
            for n in lengths {
                var x = rng.normals(n, std: 4)
                if n > 3 {
                    x[n - 1] = -200
                    x[n - 2] = 200
                    x[0] = 1e-3
                }
                var g = x
                var s = x
                Activations.gelu(&g, count: n)
                Activations.silu(&s, count: n)
                for i in 0..<n {
                    let d = Double(x[i])
                    let rg = 0.5 * d * (1 + tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)))
                    let rs = d / (1 + exp(-d))
                    XCTAssertEqual(Double(g[i]), rg, accuracy: 1e-6 * max(1, abs(rg)), "\(f) gelu(\(x[i])) n=\(n)")
                    XCTAssertEqual(Double(s[i]), rs, accuracy: 1e-6 * max(1, abs(rs)), "\(f) silu(\(x[i])) n=\(n)")
                }
            }
            var nan: [Float] = [.nan, 1]
            Activations.gelu(&nan, count: 2)
            XCTAssertTrue(nan[0].isNaN, "\(f): a NaN input stays NaN")
        }
    }

    func testSoftmaxRowsEveryLength() {
        forEachFamily { f in
            for cols in lengths where cols > 0 {
                let rows = 3
                var s = rng.normals(rows * cols, std: 5)
                s[cols - 1] += 30  // the maximum in the tail
                if cols > 20 { s[cols + 2] = -.infinity }
                let x = s
                Attention.softmaxRows(&s, rows: rows, cols: cols)
                for r in 0..<rows {
                    let row = (0..<cols).map { Double(x[r * cols + $0]) }
                    let m = row.max()!
                    let e = row.map { exp($0 - m) }
                    let z = e.reduce(0, +)
                    for j in 0..<cols {
                        XCTAssertEqual(
                            Double(s[r * cols + j]), e[j] / z, accuracy: 2e-7 + 1e-6 * e[j] / z,
                            "\(f) cols=\(cols) r=\(r) j=\(j)")
                    }
                }
            }
            var huge: [Float] = [1000, 1001, 999, -1e30]
            Attention.softmaxRows(&huge, rows: 1, cols: 4)
            XCTAssertEqual(Double(huge[1]), 1 / (exp(-1.0) + 1 + exp(-2.0)), accuracy: 1e-6, "\(f)")
            XCTAssertEqual(huge[3], 0, "\(f)")
        }
    }

    func testLayerNormPlainAndModulatedEveryLength() {
        forEachFamily { f in
            for dim in lengths where dim > 0 {
                let batch = 2
                let tokens = 3
                let stride = dim + 5
                let rows = batch * tokens
                let x = rng.normals(rows * dim, std: 3).map { $0 + 7 }  // offset mean: stresses the two-pass variance
                let shift = rng.normals(batch * stride)
                let scale = rng.normals(batch * stride)
                var plain = [Float](repeating: .nan, count: x.count)
                var mod = plain
                var mean = [Float](repeating: .nan, count: rows)
                var rstd = mean
                LayerNorm.forward(x, rows: rows, dim: dim, out: &plain, mean: &mean, rstd: &rstd)
                LayerNorm.forwardModulated(
                    x, batch: batch, tokens: tokens, dim: dim, shift: shift, scale: scale,
                    modStride: stride, out: &mod)
                for r in 0..<rows {
                    let row = (0..<dim).map { Double(x[r * dim + $0]) }
                    let m = row.reduce(0, +) / Double(dim)
                    let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(dim)
                    let rs = 1 / (v + 1e-6).squareRoot()
                    XCTAssertEqual(Double(mean[r]), m, accuracy: 1e-6 * abs(m), "\(f) mean dim=\(dim)")
                    XCTAssertEqual(Double(rstd[r]), rs, accuracy: 1e-4 * rs, "\(f) rstd dim=\(dim)")
                    let b = r / tokens
                    for i in 0..<dim {
                        let nrm = (row[i] - m) * rs
                        let mr = nrm * (1 + Double(scale[b * stride + i])) + Double(shift[b * stride + i])
                        // One element: x − mean is pure rounding, scaled by 1/sqrt(eps).
                        let tol = dim == 1 ? 1e-2 : 1e-4
                        XCTAssertEqual(
                            Double(plain[r * dim + i]), nrm, accuracy: tol * max(1, abs(nrm)),
                            "\(f) ln dim=\(dim)")
                        XCTAssertEqual(
                            Double(mod[r * dim + i]), mr, accuracy: tol * max(1, abs(mr)),
                            "\(f) adaLN dim=\(dim)")
                    }
                }
                var inPlace = x
                inPlace.withUnsafeMutableBufferPointer { p in
                    LayerNorm.forward(p.baseAddress!, rows: rows, dim: dim, out: p.baseAddress!)
                }
                XCTAssertEqual(inPlace, plain, "\(f): in place gives the same bits, dim=\(dim)")
            }
        }
    }

    func testModulateAndGatedResidualEveryLength() {
        forEachFamily { f in
            for dim in lengths {
                let batch = 2
                let tokens = 3
                let stride = dim + 3
                let x = rng.normals(batch * tokens * dim)
                let y = rng.normals(batch * tokens * dim)
                let shift = rng.normals(batch * stride)
                let scale = rng.normals(batch * stride)
                let gate = rng.normals(batch * stride)
                var m = [Float](repeating: .nan, count: x.count)
                var r = x
                Modulation.modulate(
                    x, batch: batch, tokens: tokens, dim: dim, shift: shift, scale: scale,
                    modStride: stride, out: &m)
                Modulation.gatedResidual(&r, y, batch: batch, tokens: tokens, dim: dim, gate: gate, modStride: stride)
                for b in 0..<batch {
                    for t in 0..<tokens {
                        for i in 0..<dim {
                            let k = (b * tokens + t) * dim + i
                            let c = b * stride + i
                            let rm = Double(x[k]) * (1 + Double(scale[c])) + Double(shift[c])
                            let rr = Double(x[k]) + Double(gate[c]) * Double(y[k])
                            XCTAssertEqual(
                                Double(m[k]), rm, accuracy: 1e-6 * max(1, abs(rm)), "\(f) modulate dim=\(dim)")
                            XCTAssertEqual(
                                Double(r[k]), rr, accuracy: 1e-6 * max(1, abs(rr)), "\(f) residual dim=\(dim)")
                        }
                    }
                }
            }
        }
    }
}
