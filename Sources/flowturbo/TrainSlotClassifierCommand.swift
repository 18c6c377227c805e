import ArgumentParser
import FlowTensor
import FlowTraining
import Foundation

/// `flowturbo train-slot-classifier`: the 16×16 slot classifier (digits 0–9 + empty) that judges quad-canvas
/// prompt adherence and whose features give quad-canvas Fréchet distances.
struct TrainSlotClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-slot-classifier",
        abstract: "Train the quad-canvas slot classifier (16×16 slots, digits 0-9 + empty) used for prompt adherence.")

    @Option(help: "MNIST directory with the four IDX files.") var data: String = "data/mnist"
    @Option(help: "Output safetensors.") var out: String = "Models/" + SlotClassifier.fileName
    @Option(help: "Hidden widths, comma-separated.") var hidden: String = "512,256"
    @Option(help: "Optimizer steps.") var steps: Int = 20000
    @Option(help: "Mini-batch size.") var batch: Int = 128
    @Option(help: "Peak AdamW learning rate (cosine decay to 0).") var lr: Float = 1e-3
    @Option(help: "AdamW weight decay.") var weightDecay: Float = 1e-4
    @Option(help: "Random placement jitter in pixels (augmentation).") var shift: Int = 2
    @Option(help: "Empty slots added to training (test adds one per 10 digits).") var empties: Int = 6000
    @Option(help: "Largest standard deviation of the noise on empty slots.") var emptyNoise: Double = 0.05
    @Option(help: "Seed of initialisation, order, augmentation and empty slots.") var seed: UInt64 = 0
    @Option(help: "OpenBLAS threads.") var threads: Int = 2
    @Option(help: "Progress line every N steps.") var logEvery: Int = 200

    func run() throws {
        Gemm.setThreads(threads)
        let hs = hidden.split(separator: ",").compactMap { Int($0) }
        guard !hs.isEmpty, hs.allSatisfy({ $0 > 0 }), steps > 0, batch > 0, empties >= 0 else {
            throw FlowError("hidden widths must be positive like 512,256 and steps/batch positive, empties ≥ 0")
        }
        let train = try SlotTrainingSet.make(
            from: try MNISTData.load(directory: data, split: "train"),
            empties: empties, emptyNoise: emptyNoise, seed: seed)
        let testDigits = try MNISTData.load(directory: data, split: "t10k")
        let test = try SlotTrainingSet.make(
            from: testDigits, empties: testDigits.count / 10, emptyNoise: emptyNoise,
            seed: seed &+ 1)
        let model = DigitClassifier(widths: [SlotClassifier.slotPixels] + hs + [SlotClassifier.classes], seed: seed)
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
        let per = try SlotTrainingSet.accuracy(try SlotClassifier(model: model), on: test)
        let digits = per[0..<10].reduce((0, 0)) { ($0.0 + $1.correct, $0.1 + $1.total) }
        let digitAcc = Double(digits.0) / Double(max(digits.1, 1))
        let emptyAcc = Double(per[10].correct) / Double(max(per[10].total, 1))
        try FileIO.makeDirectories((out as NSString).deletingLastPathComponent)
        try model.save(
            out,
            extra: [
                "flowturbo.test_accuracy_digits": String(format: "%.4f", digitAcc),
                "flowturbo.test_accuracy_empty": String(format: "%.4f", emptyAcc),
                "flowturbo.train_steps": String(steps), "flowturbo.train_final_loss": String(format: "%.4f", loss),
                "flowturbo.train_seed": String(seed), "flowturbo.train_shift": String(shift),
            ])
        progressLine(
            String(
                format: "test accuracy: %.4f on %d MNIST test slots, %.4f on %d empty slots; "
                    + "final train loss %.4f; wall %@", digitAcc, digits.1, emptyAcc, per[10].total, loss,
                formatDuration(wall) as NSString))
        print(String(format: "%.4f %.4f", digitAcc, emptyAcc))
    }
}
