import FlowTensor
import Foundation

/// MNIST in memory as the models see it: 1×28×28 images scaled to [−1, 1] (x/127.5 − 1) and labels.
public struct MNISTData {
    public let count: Int
    public let rows: Int
    public let cols: Int
    /// count·rows·cols floats in [−1, 1].
    public let images: [Float]
    public let labels: [Int32]

    /// Floats per image.
    public var imageSize: Int { rows * cols }

    /// Builds a data set from raw bytes (0–255) and labels; sizes must agree.
    public init(count: Int, rows: Int, cols: Int, pixels: [UInt8], labels: [UInt8], source: String) throws {
        guard pixels.count == count * rows * cols else {
            throw FlowError("\(source): \(pixels.count) pixels for \(count) images of \(rows)×\(cols)")
        }
        guard labels.count == count else {
            throw FlowError(
                "\(source): \(labels.count) labels for \(count) images; pass matching images and labels files")
        }
        self.count = count
        self.rows = rows
        self.cols = cols
        images = pixels.map { Float($0) / 127.5 - 1 }
        self.labels = labels.map { Int32($0) }
    }

    /// Loads `train` or `t10k` from a directory holding the four standard files (gzipped or not).
    public static func load(directory: String, split: String) throws -> MNISTData {
        func find(_ base: String) throws -> String {
            for name in [base + ".gz", base] {
                let p = (directory as NSString).appendingPathComponent(name)
                if FileIO.exists(p) { return p }
            }
            throw FlowError(
                "MNIST file '\(base)[.gz]' not found in '\(directory)'; run Scripts/fetch-mnist.sh or pass \(.data) DIR"
            )
        }
        let ip = try find("\(split)-images-idx3-ubyte")
        let lp = try find("\(split)-labels-idx1-ubyte")
        let im = try IDX.readImages(ip)
        let lb = try IDX.readLabels(lp)
        return try MNISTData(count: im.count, rows: im.rows, cols: im.cols, pixels: im.pixels, labels: lb, source: ip)
    }
}

/// Deterministic mini-batch order: a fresh seeded permutation of the data set per epoch, so the batch
/// at any step depends only on (seed, step) — a resumed run sees exactly the batches it would have seen.
public struct BatchOrder {
    public let count: Int
    public let batch: Int
    public let seed: UInt64
    var epoch = -1
    var perm: [Int32] = []

    public init(count: Int, batch: Int, seed: UInt64) {
        self.count = count
        self.batch = batch
        self.seed = seed
    }

    /// Fisher–Yates permutation of epoch `e`.
    static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int32] {
        var rng = SeededRandom(seed: seed ^ (UInt64(epoch + 1) &* 0xD6E8_FEB8_6659_FD93))
        var p = (0..<count).map { Int32($0) }
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                p.swapAt(i, j)
            }
        }
        return p
    }

    /// Indices of the examples in step `step`'s batch (epochs roll over seamlessly).
    public mutating func indices(step: Int) -> [Int] {
        (0..<batch).map { k in
            let g = step * batch + k
            let e = g / count
            if e != epoch {
                perm = BatchOrder.permutation(count: count, seed: seed, epoch: e)
                epoch = e
            }
            return Int(perm[g % count])
        }
    }
}

/// A per-step random stream derived from (seed, step, stream), independent of every other step.
public func stepRandom(seed: UInt64, step: Int, stream: UInt64 = 0) -> SeededRandom {
    var mix = SeededRandom(seed: seed ^ 0x5851_F42D_4C95_7F2D)
    var z = mix.next() ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15) ^ (stream &* 0xC2B2_AE3D_27D4_EB4F)
    z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
    return SeededRandom(seed: z ^ (z >> 29))
}
