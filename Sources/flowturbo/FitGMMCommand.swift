import ArgumentParser
import FlowModels
import FlowTensor
import Foundation

/// `flowturbo fit-gmm`: fits a diagonal Gaussian mixture per digit to MNIST (the `gmm:mnist` preset).
struct FitGMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit-gmm",
        abstract:
            "Fit a per-class diagonal Gaussian mixture to IDX images (pixels scaled to [-1, 1]) and write safetensors.")

    @Option(help: "Images, e.g. data/mnist/train-images-idx3-ubyte.gz (Scripts/fetch-mnist.sh).") var images: String
    @Option(help: "Labels, e.g. data/mnist/train-labels-idx1-ubyte.gz.") var labels: String
    @Option(help: "Components per class.") var components: Int = 8
    @Option(help: "k-means (Lloyd) iterations after k-means++ seeding.") var kmeansIterations: Int = 10
    @Option(help: "EM iterations after k-means.") var emIterations: Int = 5
    @Option(help: "Variance floor (pixel units of [-1, 1]).") var varianceFloor: Double = 0.01
    @Option(help: "Use at most this many examples per class (0 = all).") var maxPerClass: Int = 0
    @Option(help: "Seed for k-means++.") var seed: UInt64 = 0
    @Option(help: "Output safetensors file, e.g. Models/gmm-mnist.safetensors.") var out: String

    func run() throws {
        guard components > 0 else { throw FlowError("--components must be ≥ 1") }
        let img = try IDX.readImages(images)
        let lab = try IDX.readLabels(labels)
        guard lab.count == img.count else {
            throw FlowError("\(images) has \(img.count) images but \(labels) has \(lab.count) labels")
        }
        let d = img.rows * img.cols
        let numClasses = Int(lab.max() ?? 0) + 1
        var data = [Float]()
        var ys = [Int]()
        var taken = [Int](repeating: 0, count: numClasses)
        for i in 0..<img.count {
            let y = Int(lab[i])
            if maxPerClass > 0 && taken[y] >= maxPerClass { continue }
            taken[y] += 1
            ys.append(y)
            for j in 0..<d { data.append(Float(img.pixels[i * d + j]) / 127.5 - 1) }
        }
        let t0 = Clock.now()
        let g = try GaussianMixtureField.fit(
            data: data, labels: ys, sampleShape: [1, img.rows, img.cols], numClasses: numClasses,
            components: components, kmeansIterations: kmeansIterations,
            emIterations: emIterations, varianceFloor: varianceFloor, seed: seed)
        try g.write(
            out,
            extraMetadata: [
                "source": "MNIST " + (images as NSString).lastPathComponent,
                "fit":
                    "k-means++ seed \(seed), \(kmeansIterations) Lloyd + \(emIterations) EM iterations, variance floor \(varianceFloor), max/class \(maxPerClass)",
                "pixels": "uint8 / 127.5 - 1",
            ])
        let size = (try? FileIO.read(out).count) ?? 0
        print(
            String(
                format: "fitted %d classes × %d components on %d images in %.1f s; wrote %@ (%d bytes)",
                numClasses, components, ys.count, Clock.now() - t0, out, size))
    }
}
