import ArgumentParser
import FlowModels
import FlowTensor
import FlowTraining
import Foundation

/// `flowturbo classify`: scores generated MNIST samples with the digit classifier (class agreement) and,
/// optionally, their error against a reference solve of the same noise.
struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract:
            "Class agreement of generated MNIST samples (.npy from `flowturbo sample`) under the digit classifier; error vs a reference."
    )

    @Option(help: "Samples (.npy, N×1×28×28 in [−1, 1]).") var samples: String
    @Option(help: "Digit classifier (default: the shipped one, found as every command finds models).")
    var classifier: String = ModelDefaults.shipped("classifier-mnist.safetensors")
    @Option(
        help:
            "Requested labels, comma-separated and cycled as `flowturbo sample --classes` does (default: index mod 10)."
    )
    var classes: String?
    @Option(help: "Reference samples of the same noise (e.g. an H50 solve): prints RMSE and mean |error| per pixel.")
    var reference: String?

    func run() throws {
        let x = try NPY.readTensor(samples)
        guard let n = x.shape.first, n > 0, x.count == n * 784 else {
            throw FlowError("\(samples): shape \(x.shapeDescription) is not N×1×28×28 MNIST samples")
        }
        let bad = (0..<n).filter { i in !x.data[(i * 784)..<((i + 1) * 784)].allSatisfy { $0.isFinite } }.count
        guard bad == 0 else {
            throw FlowError(
                "\(samples): \(bad) of \(n) samples contain NaN or infinity, which no class "
                    + "describes; check the sampler run that wrote them")
        }
        let c = try DigitClassifier.load(classifier)
        let list: [Int] =
            try classes.map { s in
                try s.split(separator: ",").map { p in
                    guard let v = Int(p.trimmingCharacters(in: .whitespaces)), (0..<10).contains(v) else {
                        throw FlowError("--classes \"\(s)\": \"\(p)\" is not a digit 0–9")
                    }
                    return v
                }
            } ?? Array(0..<10)
        guard !list.isEmpty else { throw FlowError("--classes is empty") }
        let pred = try c.predict(x.data, count: n)
        var hit = [Int](repeating: 0, count: 10)
        var tot = [Int](repeating: 0, count: 10)
        for i in 0..<n {
            let want = list[i % list.count]
            tot[want] += 1
            if pred[i] == want { hit[want] += 1 }
        }
        let agree = Double(hit.reduce(0, +)) / Double(n)
        print(String(format: "class agreement: %.1f%% of %d samples", 100 * agree, n))
        print(
            "per digit: "
                + (0..<10).filter { tot[$0] > 0 }.map {
                    String(format: "%d:%.0f%%", $0, 100 * Double(hit[$0]) / Double(tot[$0]))
                }.joined(separator: " "))
        if let reference {
            let r = try NPY.readTensor(reference)
            guard r.shape == x.shape else {
                throw FlowError("\(reference): shape \(r.shapeDescription) differs from \(x.shapeDescription)")
            }
            var se = 0.0
            var ae = 0.0
            for i in 0..<x.count {
                let e = Double(x.data[i] - r.data[i])
                se += e * e
                ae += abs(e)
            }
            print(
                String(
                    format: "vs reference: RMSE %.4f  mean|err| %.4f per pixel", (se / Double(x.count)).squareRoot(),
                    ae / Double(x.count)))
        }
    }
}
