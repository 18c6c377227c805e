import FlowTensor
import XCTest

@testable import FlowTraining

/// Quad canvases: the resize equals an independent float64 supersampled area average, digits land exactly in
/// their slot with background −1 elsewhere, and random placements are balanced.
final class QuadCanvasTests: XCTestCase {
    /// 40 random 28×28 images (digit = index mod 10) with a −1 border like MNIST.
    static func data() throws -> MNISTData {
        var rng = SeededRandom(seed: 5)
        var px = [UInt8](repeating: 0, count: 40 * 784)
        var labels = [UInt8](repeating: 0, count: 40)
        for n in 0..<40 {
            labels[n] = UInt8(n % 10)
            for y in 4..<24 { for x in 4..<24 { px[n * 784 + y * 28 + x] = UInt8(rng.next() % 256) } }
        }
        return try MNISTData(count: 40, rows: 28, cols: 28, pixels: px, labels: labels, source: "synthetic")
    }

    /// Area average by supersampling: each source pixel split into 16×16 cells, each output pixel = mean of its
    /// 28×28 cells.
    static func referenceResize(_ img: ArraySlice<Float>) -> [Double] {
        let base = img.startIndex
        var out = [Double](repeating: 0, count: 256)
        for oy in 0..<16 {
            for ox in 0..<16 {
                var s = 0.0
                for cy in (oy * 28)..<((oy + 1) * 28) {
                    for cx in (ox * 28)..<((ox + 1) * 28) {
                        s += (Double(img[base + (cy / 16) * 28 + cx / 16]) + 1) / 2
                    }
                }
                out[oy * 16 + ox] = 2 * s / 784 - 1
            }
        }
        return out
    }

    func testResizeMatchesSupersampledAreaAverage() throws {
        let d = try Self.data()
        var out = [Float](repeating: 0, count: 256)
        for n in [0, 17, 39] {
            d.images.withUnsafeBufferPointer { p in
                QuadCanvas.resizeDigit(p.baseAddress! + n * 784, side: 28, out: &out)
            }
            let ref = Self.referenceResize(d.images[(n * 784)..<((n + 1) * 784)])
            for i in 0..<256 { XCTAssertEqual(Double(out[i]), ref[i], accuracy: 1e-6) }
            // the −1 border (rows 0–3 of the source cover output rows 0–1 only partly) stays exactly −1
            XCTAssertEqual(out[0], -1)
        }
    }

    func testSlotPlacementIsExact() throws {
        let d = try Self.data()
        let comp = try QuadComposer(data: d)
        var canvas = [Float](repeating: 0, count: 1024)
        var resized = [Float](repeating: 0, count: 256)
        var rng = SeededRandom(seed: 1)
        for (caption, slot) in [
            ("a 3 in the top left", 0), ("3 at the top right", 1), ("a three in the lower left", 2),
            ("the 3 in the bottom right corner", 3),
        ] {
            let spec = try QuadCaptionParser.parse(caption)
            let r = comp.compose(spec, rng: &rng, out: &canvas)
            XCTAssertEqual(r.images.count, 1)
            XCTAssertEqual(d.labels[r.images[0]], 3)
            d.images.withUnsafeBufferPointer { p in
                QuadCanvas.resizeDigit(p.baseAddress! + r.images[0] * 784, side: 28, out: &resized)
            }
            let y0 = (slot / 2) * 16
            let x0 = (slot % 2) * 16
            for y in 0..<32 {
                for x in 0..<32 {
                    let inside = (y0..<(y0 + 16)).contains(y) && (x0..<(x0 + 16)).contains(x)
                    let want: Float = inside ? resized[(y - y0) * 16 + (x - x0)] : -1
                    XCTAssertEqual(canvas[y * 32 + x], want, "\(caption) at (\(y), \(x))")
                }
            }
        }
        let empty = try QuadCaptionParser.parse("nothing")
        comp.compose(empty, rng: &rng, out: &canvas)
        XCTAssertTrue(canvas.allSatisfy { $0 == -1 })
    }

    func testCountPlacementsAreBalancedAndReferencesDeterministic() throws {
        let comp = try QuadComposer(data: try Self.data())
        let spec = try QuadCaptionParser.parse("two fives")
        var canvas = [Float](repeating: 0, count: 1024)
        var perSlot = [Int](repeating: 0, count: 4)
        var rng = SeededRandom(seed: 2)
        let n = 4000
        for i in 0..<n {
            let digits = comp.placement(spec, rng: &rng)
            if i < 20 {
                let r = comp.compose(spec, rng: &rng, out: &canvas)
                XCTAssertTrue(spec.isSatisfied(by: r.digits))
                XCTAssertEqual(r.images.map { comp.data.labels[$0] }, [5, 5])
            }
            XCTAssertTrue(spec.isSatisfied(by: digits))
            for (s, dgt) in digits.enumerated() where dgt != nil { perSlot[s] += 1 }
        }
        // each slot is occupied with probability 1/2: binomial sd = sqrt(n/4)
        for c in perSlot { XCTAssertLessThan(abs(Double(c) - Double(n) / 2), 4 * (Double(n) / 4).squareRoot()) }
        var a = [Float](repeating: 0, count: 1024)
        var b = a
        let ra = comp.reference(spec, seed: 7, index: 11, out: &a)
        let rb = comp.reference(spec, seed: 7, index: 11, out: &b)
        XCTAssertEqual(a, b)
        XCTAssertEqual(ra.images, rb.images)
    }
}
