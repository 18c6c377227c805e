import FlowTensor

/// Quad-canvas composition: 1×32×32 float32 canvases in [−1, 1] with background −1 and an MNIST digit
/// resized 28→16 (area resampling, i.e. exact box-filter antialiasing) in each occupied 16×16 slot.
public enum QuadCanvas {
    /// Canvas side (pixels).
    public static let size = 32
    /// Slot side (pixels).
    public static let slotSize = 16
    /// Floats in one canvas.
    public static let pixels = size * size

    /// Area-resampling weights from `n` source pixels to `m` output pixels: output j averages the source interval
    /// [j·n/m, (j+1)·n/m); each entry is (first source index, weights of the covered source pixels summing to 1).
    public static func areaWeights(from n: Int, to m: Int) -> [(first: Int, weights: [Double])] {
        let s = Double(n) / Double(m)
        return (0..<m).map { j in
            let lo = Double(j) * s
            let hi = Double(j + 1) * s
            let first = Int(lo.rounded(.down))
            let last = min(Int(hi.rounded(.up)) - 1, n - 1)
            let w = (first...last).map { i in (min(hi, Double(i + 1)) - max(lo, Double(i))) / s }
            return (first, w)
        }
    }

    static let weights28 = areaWeights(from: 28, to: slotSize)

    /// Resizes a side×side image in [−1, 1] (background −1) to 16×16 by area averaging of the intensity
    /// p = (x + 1)/2, so a blank background stays exactly −1. `out` has row stride `outStride`.
    public static func resizeDigit(
        _ src: UnsafePointer<Float>, side: Int, out: UnsafeMutablePointer<Float>,
        outStride: Int = slotSize
    ) {
        let w = side == 28 ? weights28 : areaWeights(from: side, to: slotSize)
        for oy in 0..<slotSize {
            let wy = w[oy]
            for ox in 0..<slotSize {
                let wx = w[ox]
                var acc = 0.0
                for (a, fy) in wy.weights.enumerated() {
                    let row = src + (wy.first + a) * side
                    for (b, fx) in wx.weights.enumerated() {
                        acc += fy * fx * (Double(row[wx.first + b]) + 1) * 0.5
                    }
                }
                out[oy * outStride + ox] = Float(2 * acc - 1)
            }
        }
    }

    /// Offset of slot `s`'s top-left pixel in the canvas.
    public static func slotOffset(_ s: Int) -> Int { (s / 2) * slotSize * size + (s % 2) * slotSize }

    /// Clears `out` (32×32) to −1 and writes image `images[k]` (side×side, from `pool`) into slot `slots[k]`.
    public static func compose(
        pool: UnsafePointer<Float>, side: Int, images: [Int], slots: [Int],
        out: UnsafeMutablePointer<Float>
    ) {
        out.update(repeating: -1, count: pixels)
        for (img, s) in zip(images, slots) {
            resizeDigit(pool + img * side * side, side: side, out: out + slotOffset(s), outStride: size)
        }
    }
}

/// Draws canvases for specs from a digit data set (MNIST train for training, MNIST test for references):
/// every draw is a function of the random stream it is given.
public struct QuadComposer {
    public let data: MNISTData
    /// Image indices of each digit 0–9.
    public let byDigit: [[Int]]

    public init(data: MNISTData) throws {
        guard data.rows == data.cols else {
            throw FlowError("quad canvas needs square digit images, got \(data.rows)×\(data.cols)")
        }
        var by = [[Int]](repeating: [], count: 10)
        for (i, l) in data.labels.enumerated() where (0..<10).contains(l) { by[Int(l)].append(i) }
        guard by.allSatisfy({ !$0.isEmpty }) else {
            throw FlowError("quad canvas needs every digit 0–9 in the data; pass the full MNIST split")
        }
        self.data = data
        byDigit = by
    }

    /// The slots chosen for a spec: a `count` spec takes a uniformly random set of `count` slots.
    public func placement(_ spec: QuadSpec, rng: inout SeededRandom) -> [Int?] {
        guard spec.category == .count else { return spec.slots }
        var order = [0, 1, 2, 3]
        for i in stride(from: 3, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return spec.placed(free: order)
    }

    /// Composes one canvas for `spec` into `out` (32×32); returns the digit in each slot and the image used.
    @discardableResult
    public func compose(
        _ spec: QuadSpec, rng: inout SeededRandom, out: UnsafeMutablePointer<Float>
    )
        -> (digits: [Int?], images: [Int])
    {
        let digits = placement(spec, rng: &rng)
        var images: [Int] = []
        var slots: [Int] = []
        for (s, d) in digits.enumerated() {
            guard let d else { continue }
            let list = byDigit[d]
            images.append(list[Int(rng.next() % UInt64(list.count))])
            slots.append(s)
        }
        data.images.withUnsafeBufferPointer { p in
            QuadCanvas.compose(pool: p.baseAddress!, side: data.rows, images: images, slots: slots, out: out)
        }
        return (digits, images)
    }

    /// The reference canvas of evaluation prompt `index` (e.g. from MNIST test, for Fréchet distances): a function
    /// of (seed, index) only.
    @discardableResult
    public func reference(
        _ spec: QuadSpec, seed: UInt64, index: Int, out: UnsafeMutablePointer<Float>
    )
        -> (digits: [Int?], images: [Int])
    {
        var rng = stepRandom(seed: seed, step: index, stream: 0x5155_4144)
        return compose(spec, rng: &rng, out: out)
    }
}
