import FlowTensor
import Foundation

/// Trains a `DigitClassifier` on MNIST: AdamW, cosine learning-rate decay, random ±`shift`-pixel
/// translations (background −1 fills the gap), deterministic order and augmentation from the seed.
public final class ClassifierTrainer {
    public let model: DigitClassifier
    public let adam: AdamW
    public let options: TrainOptions
    public var shift = 2
    public var step = 0
    let data: MNISTData
    var order: BatchOrder
    let ws: DigitClassifier.Workspace
    let xb: Buffer
    var yb: [Int32]

    public init(model: DigitClassifier, data: MNISTData, options: TrainOptions) throws {
        guard data.imageSize == model.inputSize else {
            throw FlowError("classifier expects \(model.inputSize) pixels per image, the data has \(data.imageSize)")
        }
        self.model = model
        self.data = data
        self.options = options
        adam = AdamW(model.parameters, weightDecay: options.weightDecay)
        order = BatchOrder(count: data.count, batch: options.batch, seed: options.seed)
        ws = model.workspace(rows: options.batch)
        xb = Buffer(count: options.batch * model.inputSize)
        yb = [Int32](repeating: 0, count: options.batch)
    }

    /// One step; returns (loss, batch accuracy).
    @discardableResult
    public func trainStep() -> (Double, Double) {
        let b = options.batch
        let rows = data.rows
        let cols = data.cols
        let s = data.imageSize
        var rng = stepRandom(seed: options.seed, step: step, stream: 7)
        let idx = order.indices(step: step)
        data.images.withUnsafeBufferPointer { img in
            for (k, i) in idx.enumerated() {
                yb[k] = data.labels[i]
                let dy = shift > 0 ? Int(rng.next() % UInt64(2 * shift + 1)) - shift : 0
                let dx = shift > 0 ? Int(rng.next() % UInt64(2 * shift + 1)) - shift : 0
                let src = img.baseAddress! + i * s
                let dst = xb.ptr + k * s
                for r in 0..<rows {
                    let sr = r - dy
                    for c in 0..<cols {
                        let sc = c - dx
                        dst[r * cols + c] = sr >= 0 && sr < rows && sc >= 0 && sc < cols ? src[sr * cols + sc] : -1
                    }
                }
            }
        }
        model.forward(xb.ptr, rows: b, ws: ws)
        for p in model.parameters { p.grad.fill(0) }
        let (loss, correct) = model.backward(xb.ptr, labels: yb, rows: b, ws: ws)
        AdamW.clipGradNorm(model.parameters, maxNorm: options.clip)
        let progress = Double(step) / Double(max(options.steps, 1))
        let lr =
            AdamW.warmupLR(options.lr, step: step, warmup: options.warmup)
            * Float(0.5 * (1 + cos(Double.pi * progress)))
        adam.step(lr: lr)
        step += 1
        return (loss, Double(correct) / Double(b))
    }

    /// Fraction of `test` classified correctly.
    public func accuracy(on test: MNISTData) throws -> Double {
        let pred = try model.predict(test.images, count: test.count)
        return Double(zip(pred, test.labels).filter { $0 == Int($1) }.count) / Double(test.count)
    }

    /// Trains to `options.steps`, logging a progress line; returns the mean loss of the last window.
    public func run(log: (String) -> Void) -> Double {
        let start = Date()
        let startStep = step
        var window = 0.0
        var acc = 0.0
        var n = 0
        var last = Double.nan
        while step < options.steps {
            let (l, a) = trainStep()
            window += l
            acc += a
            n += 1
            if step % options.logEvery == 0 || step == options.steps {
                last = window / Double(n)
                let el = Date().timeIntervalSince(start)
                let done = step - startStep
                let eta = Double(options.steps - step) * el / Double(max(done, 1))
                log(
                    String(
                        format: "step %d/%d  loss %.4f  train acc %.4f  %.0f samples/s", step, options.steps, last,
                        acc / Double(n),
                        Double(done * options.batch) / max(el, 1e-9)) + "  ETA \(formatDuration(eta))")
                window = 0
                acc = 0
                n = 0
            }
        }
        return last
    }
}
