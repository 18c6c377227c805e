import ArgumentParser
import FlowTensor
import FlowTraining
import Foundation

/// `flowturbo train-classifier`: the MNIST digit classifier used to score samples and as the MNIST feature space.
struct TrainClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-classifier",
        abstract: "Train the MNIST digit classifier (MLP, GELU) whose penultimate features the statistics use.")

    @Option(help: "MNIST directory with the four IDX files.") var data: String = "data/mnist"
    @Option(help: "Output safetensors.") var out: String = "Models/classifier-mnist.safetensors"
    @Option(help: "Hidden widths, comma-separated.") var hidden: String = "512,256"
    @Option(help: "Optimizer steps.") var steps: Int = 6000
    @Option(help: "Mini-batch size.") var batch: Int = 128
    @Option(help: "Peak AdamW learning rate (cosine decay to 0).") var lr: Float = 1e-3
    @Option(help: "AdamW weight decay.") var weightDecay: Float = 1e-4
    @Option(help: "Random translation in pixels (augmentation).") var shift: Int = 2
    @Option(help: "Seed of initialisation, order and augmentation.") var seed: UInt64 = 0
    @Option(help: "OpenBLAS threads.") var threads: Int = 2
    @Option(help: "Progress line every N steps.") var logEvery: Int = 200

    func run() throws {
        Gemm.setThreads(threads)
        let hs = hidden.split(separator: ",").compactMap { Int($0) }
        guard !hs.isEmpty, hs.allSatisfy({ $0 > 0 }), steps > 0, batch > 0 else {
            throw FlowError("--hidden must be positive widths like 512,256 and --steps/--batch positive")
        }
        let train = try MNISTData.load(directory: data, split: "train")
        let test = try MNISTData.load(directory: data, split: "t10k")
        let model = DigitClassifier(widths: [train.imageSize] + hs + [10], seed: seed)
        var o = TrainOptions()
        o.steps = steps
        o.batch = batch
        o.lr = lr
        o.weightDecay = weightDecay
        o.seed = seed
        o.logEvery = max(logEvery, 1)
        let tr = try ClassifierTrainer(model: model, data: train, options: o)
        tr.shift = shift
        let start = Date()
        let loss = tr.run(log: progressLine)
        let wall = Date().timeIntervalSince(start)
        let acc = try tr.accuracy(on: test)
        try FileIO.makeDirectories((out as NSString).deletingLastPathComponent)
        try model.save(
            out,
            extra: [
                "flowturbo.test_accuracy": String(format: "%.4f", acc),
                "flowturbo.train_steps": String(steps), "flowturbo.train_final_loss": String(format: "%.4f", loss),
                "flowturbo.train_seed": String(seed),
            ])
        progressLine(
            String(
                format: "test accuracy %.4f (10k MNIST test images); final train loss %.4f; wall %@", acc, loss,
                formatDuration(wall) as NSString))
        print(String(format: "%.4f", acc))
    }
}
