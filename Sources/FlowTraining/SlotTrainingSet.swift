import FlowTensor

extension MNISTData {
    /// A data set of float images in [−1, 1] (e.g. resized digits); sizes must agree.
    public init(count: Int, rows: Int, cols: Int, images: [Float], labels: [Int32]) {
        precondition(images.count == count * rows * cols && labels.count == count, "MNISTData: sizes disagree")
        self.count = count
        self.rows = rows
        self.cols = cols
        self.images = images
        self.labels = labels
    }
}

/// Training and test sets of the slot classifier: every MNIST digit resized 28→16 with the quad task's own
/// area resampler (`QuadCanvas.resizeDigit`), plus empty slots (background −1 with small Gaussian noise of a
/// per-slot standard deviation uniform in [0, `emptyNoise`]) labelled `SlotClassifier.emptyClass`.
/// `ClassifierTrainer` adds the ±shift-pixel placement jitter.
public enum SlotTrainingSet {
    /// Resized digits of `data` plus `empties` empty slots from `seed`, as 16×16 images with 11 classes.
    public static func make(
        from data: MNISTData, empties: Int, emptyNoise: Double = 0.05, seed: UInt64
    ) throws
        -> MNISTData
    {
        guard data.rows == data.cols else {
            throw FlowError("slot data needs square digits, got \(data.rows)×\(data.cols)")
        }
        let sp = SlotClassifier.slotPixels
        let n = data.count + empties
        var images = [Float](repeating: -1, count: n * sp)
        var labels = data.labels + [Int32](repeating: Int32(SlotClassifier.emptyClass), count: empties)
        data.images.withUnsafeBufferPointer { src in
            images.withUnsafeMutableBufferPointer { dst in
                for i in 0..<data.count {
                    QuadCanvas.resizeDigit(
                        src.baseAddress! + i * data.imageSize, side: data.rows,
                        out: dst.baseAddress! + i * sp)
                }
            }
        }
        var rng = SeededRandom(seed: seed)
        for e in 0..<empties {
            let std = rng.uniform() * emptyNoise
            let o = (data.count + e) * sp
            for k in 0..<sp { images[o + k] = Float(-1 + std * rng.normal()) }
        }
        labels.reserveCapacity(n)
        return MNISTData(count: n, rows: QuadCanvas.slotSize, cols: QuadCanvas.slotSize, images: images, labels: labels)
    }

    /// Per-class accuracy of `classifier` on `set` (index 10 = empty): (correct, total) per class.
    public static func accuracy(
        _ classifier: SlotClassifier, on set: MNISTData
    ) throws
        -> [(correct: Int, total: Int)]
    {
        let pred = try classifier.model.predict(set.images, count: set.count)
        var out = [(correct: Int, total: Int)](repeating: (0, 0), count: SlotClassifier.classes)
        for (p, l) in zip(pred, set.labels) {
            out[Int(l)].total += 1
            if p == Int(l) { out[Int(l)].correct += 1 }
        }
        return out
    }
}
