import Foundation
import XCTest

@testable import FlowTensor

/// Exact GELU, affine LayerNorm (eps 1e-12) and the float-only safetensors loader, against float64 references
/// (closed forms, central finite differences) and a file written by hand.
final class BertKernelTests: XCTestCase {
    /// Seeded values in [−a, a] (SplitMix64), independent of the kernels.
    func values(_ n: Int, seed: UInt64, scale: Double) -> [Double] {
        var g = SplitMix64(seed: seed)
        return (0..<n).map { _ in (g.uniform() * 2 - 1) * scale }
    }

    func geluRef(_ x: Double) -> Double { 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }

    func testGeluErfForwardAndBackward() {
        let xs = values(257, seed: 1, scale: 6) + [0, -10, 10, 1e-20]
        var y = xs.map { Float($0) }
        GeluErf.forward(&y, count: y.count)
        for (i, x) in xs.enumerated() {
            let xf = Double(Float(x))
            XCTAssertEqual(Double(y[i]), geluRef(xf), accuracy: 2e-7 * max(1, abs(xf)), "x = \(xf)")
        }
        let dout = values(xs.count, seed: 2, scale: 1).map { Float($0) }
        var dx = [Float](repeating: 0, count: xs.count)
        let xf = xs.map { Float($0) }
        GeluErf.backward(x: xf, dout: dout, count: xs.count, dx: &dx)
        for i in 0..<xs.count {
            let x = Double(xf[i])
            let h = 1e-5
            let fd = (geluRef(x + h) - geluRef(x - h)) / (2 * h)
            XCTAssertEqual(Double(dx[i]), Double(dout[i]) * fd, accuracy: 1e-5, "x = \(x)")
        }
    }

    func lnRef(_ x: [Double], _ w: [Double], _ b: [Double], eps: Double) -> [Double] {
        let m = x.reduce(0, +) / Double(x.count)
        let v = x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count)
        return x.indices.map { (x[$0] - m) / (v + eps).squareRoot() * w[$0] + b[$0] }
    }

    func testLayerNormAffineForwardAndBackward() {
        let rows = 3
        let dim = 384
        let eps = 1e-12
        let x = values(rows * dim, seed: 3, scale: 4).enumerated().map { $0.element + Double($0.offset / dim) * 100 }
        let w = values(dim, seed: 4, scale: 1).map { 1 + $0 }
        let b = values(dim, seed: 5, scale: 0.5)
        let xf = x.map { Float($0) }
        let wf = w.map { Float($0) }
        let bf = b.map { Float($0) }
        var y = [Float](repeating: 0, count: rows * dim)
        var mean = [Float](repeating: 0, count: rows)
        var rstd = [Float](repeating: 0, count: rows)
        LayerNormAffine.forward(
            xf, rows: rows, dim: dim, weight: wf, bias: bf, eps: Float(eps), out: &y,
            mean: &mean, rstd: &rstd)
        for r in 0..<rows {
            let ref = lnRef(
                Array(xf[r * dim..<(r + 1) * dim]).map(Double.init), w.map { Double(Float($0)) },
                b.map { Double(Float($0)) }, eps: eps)
            for j in 0..<dim { XCTAssertEqual(Double(y[r * dim + j]), ref[j], accuracy: 2e-5) }
        }
        // Backward vs finite differences of L = Σ dout·LN(x) in float64.
        let dout = values(rows * dim, seed: 6, scale: 1)
        var dx = [Float](repeating: 0, count: rows * dim)
        var dw = [Float](repeating: 0, count: dim)
        var db = [Float](repeating: 0, count: dim)
        LayerNormAffine.backward(
            dout: dout.map { Float($0) }, x: xf, mean: mean, rstd: rstd, weight: wf,
            rows: rows, dim: dim, dx: &dx, accumulate: false, dweight: &dw, dbias: &db)
        let wd = wf.map(Double.init)
        let bd = bf.map(Double.init)
        func loss(_ xr: [Double], _ r: Int, _ w: [Double], _ b: [Double]) -> Double {
            zip(lnRef(xr, w, b, eps: eps), dout[r * dim..<(r + 1) * dim]).map { $0 * $1 }.reduce(0, +)
        }
        let h = 1e-4
        for r in 0..<rows {
            let xr = Array(xf[r * dim..<(r + 1) * dim]).map(Double.init)
            for j in stride(from: 0, to: dim, by: 37) {
                var p = xr
                var m = xr
                p[j] += h
                m[j] -= h
                let fd = (loss(p, r, wd, bd) - loss(m, r, wd, bd)) / (2 * h)
                XCTAssertEqual(Double(dx[r * dim + j]), fd, accuracy: 1e-4 * max(1, abs(fd)))
            }
        }
        for j in stride(from: 0, to: dim, by: 41) {
            var fdW = 0.0
            var fdB = 0.0
            for r in 0..<rows {
                let xr = Array(xf[r * dim..<(r + 1) * dim]).map(Double.init)
                var wp = wd
                var wm = wd
                var bp = bd
                var bm = bd
                wp[j] += h
                wm[j] -= h
                bp[j] += h
                bm[j] -= h
                fdW += (loss(xr, r, wp, bd) - loss(xr, r, wm, bd)) / (2 * h)
                fdB += (loss(xr, r, wd, bp) - loss(xr, r, wd, bm)) / (2 * h)
            }
            XCTAssertEqual(Double(dw[j]), fdW, accuracy: 1e-4 * max(1, abs(fdW)))
            XCTAssertEqual(Double(db[j]), fdB, accuracy: 1e-4 * max(1, abs(fdB)))
        }
    }

    /// A file with an I64 buffer next to F32 tensors: `load` refuses it, `loadFloatTensors` keeps the floats.
    func testLoadFloatTensorsSkipsIntegerBuffers() throws {
        let header =
            #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""ids":{"dtype":"I64","shape":[2],"data_offsets":[8,24]}}"#
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8)
        for v: Float in [1.5, -2] { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        for v: Int64 in [0, 1] { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("st-i64-\(getpid()).safetensors").path
        try FileIO.writeAtomically(path, bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try SafeTensors.load(path))
        let (file, skipped) = try SafeTensors.loadFloatTensors(path)
        XCTAssertEqual(skipped, ["ids"])
        XCTAssertEqual(file.names, ["a"])
        XCTAssertEqual(try file.tensor("a").data, [1.5, -2])
        XCTAssertEqual(file.metadata, ["format": "pt"])
    }
}
