import FlowTensor
import Foundation

/// A small MNIST digit classifier (MLP 784 → 512 → 256 → 10, GELU) whose 256-d penultimate activations
/// are the Inception-free feature space the statistics use for MNIST.
///
/// Inputs are 1×28×28 images in [−1, 1] (the sampler's output convention). Stored as safetensors with
/// `fc{1,2,3}.{weight,bias}` (PyTorch layout [out, in]) and the layer widths in metadata.
public final class DigitClassifier {
    /// Layer widths, input first (e.g. [784, 512, 256, 10]).
    public let widths: [Int]
    /// weights[k]: [widths[k+1], widths[k]]; biases[k]: [widths[k+1]].
    public let weights: [Buffer]
    public let biases: [Buffer]
    public let gradW: [Buffer]
    public let gradB: [Buffer]
    /// Metadata key holding the comma-separated widths.
    public static let widthsKey = "flowturbo.classifier_widths"

    /// Width of `features` (the penultimate layer).
    public var featureDim: Int { widths[widths.count - 2] }
    /// Number of classes.
    public var classes: Int { widths.last! }
    /// Pixels per input image.
    public var inputSize: Int { widths[0] }

    /// A classifier with He-style N(0, 1/fan_in) weights from `seed` and zero biases.
    public init(widths: [Int] = [784, 512, 256, 10], seed: UInt64 = 0) {
        precondition(widths.count >= 3, "DigitClassifier needs at least one hidden layer")
        self.widths = widths
        var rng = SeededRandom(seed: seed)
        weights = (0..<(widths.count - 1)).map { k in
            Buffer(rng.normals(widths[k + 1] * widths[k], std: (1 / Double(widths[k])).squareRoot()))
        }
        biases = (0..<(widths.count - 1)).map { Buffer(count: widths[$0 + 1]) }
        gradW = weights.map { Buffer(count: $0.count) }
        gradB = biases.map { Buffer(count: $0.count) }
    }

    /// Tensor names in file order.
    func names(_ k: Int) -> (String, String) { ("fc\(k + 1).weight", "fc\(k + 1).bias") }

    /// Trainable (parameter, gradient) pairs.
    public var parameters: [TrainableParameter] {
        (0..<weights.count).flatMap { k -> [TrainableParameter] in
            let (wn, bn) = names(k)
            return [(wn, weights[k], gradW[k]), (bn, biases[k], gradB[k])]
        }
    }

    /// PyTorch shapes by tensor name.
    public var shapes: [String: [Int]] {
        var s: [String: [Int]] = [:]
        for k in 0..<weights.count {
            let (wn, bn) = names(k)
            s[wn] = [widths[k + 1], widths[k]]
            s[bn] = [widths[k + 1]]
        }
        return s
    }

    /// Writes the classifier (`extra` metadata merged in, e.g. test accuracy).
    public func save(_ path: String, extra: [String: String] = [:]) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        for k in 0..<weights.count {
            let (wn, bn) = names(k)
            tensors.append((wn, Tensor(shape: [widths[k + 1], widths[k]], data: weights[k].array)))
            tensors.append((bn, Tensor(shape: [widths[k + 1]], data: biases[k].array)))
        }
        var meta = extra
        meta[DigitClassifier.widthsKey] = widths.map(String.init).joined(separator: ",")
        meta["format"] = "flowturbo-digit-classifier-v1"
        try SafeTensors.write(path, tensors: tensors, metadata: meta)
    }

    /// Loads a classifier written by `save`.
    public static func load(_ path: String) throws -> DigitClassifier {
        let f = try SafeTensors.load(path)
        guard let ws = f.metadata[widthsKey] else {
            throw FlowError(
                "\(path): no '\(widthsKey)' metadata; not a flowturbo digit classifier (train one with `flowturbo train-classifier`)"
            )
        }
        let widths = ws.split(separator: ",").compactMap { Int($0) }
        guard widths.count >= 3, widths.allSatisfy({ $0 > 0 }) else {
            throw FlowError("\(path): bad classifier widths '\(ws)'")
        }
        let c = DigitClassifier(widths: widths)
        for k in 0..<c.weights.count {
            let (wn, bn) = c.names(k)
            c.weights[k].copy(from: try f.tensor(wn, shape: [widths[k + 1], widths[k]]).data)
            c.biases[k].copy(from: try f.tensor(bn, shape: [widths[k + 1]]).data)
        }
        return c
    }

    // MARK: forward / backward

    /// Activations of one forward over `rows` images: pre[k] and act[k] per hidden layer, logits last.
    public final class Workspace {
        let rows: Int
        let pre: [Buffer], act: [Buffer], logits: Buffer, dA: [Buffer], dLogits: Buffer
        init(_ c: DigitClassifier, rows: Int) {
            self.rows = rows
            let hidden = Array(c.widths[1..<(c.widths.count - 1)])
            pre = hidden.map { Buffer(count: rows * $0) }
            act = hidden.map { Buffer(count: rows * $0) }
            dA = hidden.map { Buffer(count: rows * $0) }
            logits = Buffer(count: rows * c.classes)
            dLogits = Buffer(count: rows * c.classes)
        }
    }

    /// A workspace for batches of up to `rows` images.
    public func workspace(rows: Int) -> Workspace { Workspace(self, rows: rows) }

    /// Forward of `rows` images (rows·784 floats in [−1, 1]) into `ws` (logits in `ws.logits`).
    public func forward(_ x: UnsafePointer<Float>, rows: Int, ws: Workspace) {
        precondition(rows <= ws.rows)
        var input = x
        let nh = widths.count - 2
        for k in 0..<nh {
            Gemm.linear(
                input, rows: rows, inF: widths[k], weight: weights[k].ptr, bias: biases[k].ptr, outF: widths[k + 1],
                out: ws.pre[k].ptr)
            Activations.gelu(ws.pre[k].ptr, count: rows * widths[k + 1], out: ws.act[k].ptr)
            input = UnsafePointer(ws.act[k].ptr)
        }
        Gemm.linear(
            input, rows: rows, inF: widths[nh], weight: weights[nh].ptr, bias: biases[nh].ptr, outF: classes,
            out: ws.logits.ptr)
    }

    /// Mean softmax cross-entropy of the last forward against `labels`; accumulates parameter gradients.
    /// Returns (loss, number correct).
    public func backward(
        _ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, rows: Int, ws: Workspace
    ) -> (Double, Int) {
        let nc = classes
        var loss = 0.0
        var correct = 0
        for r in 0..<rows {
            let l = ws.logits.ptr + r * nc
            let g = ws.dLogits.ptr + r * nc
            var m = -Float.infinity
            var am = 0
            for j in 0..<nc where l[j] > m {
                m = l[j]
                am = j
            }
            var z: Double = 0
            for j in 0..<nc { z += Foundation.exp(Double(l[j] - m)) }
            let y = Int(labels[r])
            loss += Foundation.log(z) - Double(l[y] - m)
            if am == y { correct += 1 }
            for j in 0..<nc { g[j] = Float(Foundation.exp(Double(l[j] - m)) / z) / Float(rows) }
            g[y] -= 1 / Float(rows)
        }
        let nh = widths.count - 2
        var dout = UnsafePointer(ws.dLogits.ptr)
        for k in stride(from: nh, through: 0, by: -1) {
            let input = k == 0 ? x : UnsafePointer(ws.act[k - 1].ptr)
            let dx: UnsafeMutablePointer<Float>? = k == 0 ? nil : ws.dA[k - 1].ptr
            Gemm.linearBackward(
                dout: dout, x: input, rows: rows, inF: widths[k], weight: weights[k].ptr, outF: widths[k + 1],
                dx: dx, dW: gradW[k].ptr, db: gradB[k].ptr)
            if k > 0 {
                Activations.geluBackward(
                    x: ws.pre[k - 1].ptr, dout: ws.dA[k - 1].ptr, count: rows * widths[k], dx: ws.dA[k - 1].ptr)
                dout = UnsafePointer(ws.dA[k - 1].ptr)
            }
        }
        return (loss / Double(rows), correct)
    }

    // MARK: inference API

    /// Runs `images` (count·784 floats in [−1, 1]) in chunks; calls `body(start, rows, ws)` after each forward.
    func batched(_ images: [Float], count: Int, _ body: (Int, Int, Workspace) -> Void) throws {
        guard images.count == count * inputSize else {
            throw FlowError(
                "classifier input has \(images.count) floats for \(count) images; expected \(count)×\(inputSize) (1×28×28 in [−1, 1])"
            )
        }
        let chunk = 256
        let ws = workspace(rows: chunk)
        images.withUnsafeBufferPointer { p in
            var s = 0
            while s < count {
                let n = min(chunk, count - s)
                forward(p.baseAddress! + s * inputSize, rows: n, ws: ws)
                body(s, n, ws)
                s += n
            }
        }
    }

    /// Penultimate-layer features (GELU activations of the last hidden layer, `featureDim` per image) of the
    /// last `forward` in `ws`, copied to `out` (rows × featureDim): the MNIST feature space of the statistics.
    public func penultimate(of ws: Workspace, rows: Int, out: UnsafeMutablePointer<Float>) {
        out.update(from: ws.act[widths.count - 3].ptr, count: rows * featureDim)
    }

    /// Predicted class of each image.
    public func predict(_ images: [Float], count: Int) throws -> [Int] {
        var out = [Int](repeating: 0, count: count)
        try batched(images, count: count) { s, n, ws in
            for r in 0..<n {
                let l = ws.logits.ptr + r * classes
                var best = 0
                for j in 1..<classes where l[j] > l[best] { best = j }
                out[s + r] = best
            }
        }
        return out
    }

    /// Softmax probabilities, count × classes.
    public func probabilities(_ images: [Float], count: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: count * classes)
        try batched(images, count: count) { s, n, ws in
            for r in 0..<n {
                let l = ws.logits.ptr + r * classes
                var m = -Float.infinity
                for j in 0..<classes { m = max(m, l[j]) }
                var z: Float = 0
                for j in 0..<classes { z += Foundation.exp(l[j] - m) }
                for j in 0..<classes { out[(s + r) * classes + j] = Foundation.exp(l[j] - m) / z }
            }
        }
        return out
    }

    /// Penultimate features (count × featureDim), the statistics' MNIST feature space.
    public func features(_ images: [Float], count: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: count * featureDim)
        let last = widths.count - 3
        try batched(images, count: count) { s, n, ws in
            out.withUnsafeMutableBufferPointer { o in
                (o.baseAddress! + s * featureDim).update(from: ws.act[last].ptr, count: n * featureDim)
            }
        }
        return out
    }
}
