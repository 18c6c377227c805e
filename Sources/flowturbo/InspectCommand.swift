import ArgumentParser
import FlowModels
import FlowTensor

/// `flowturbo inspect MODEL`: configuration, parameter count and forward FLOPs of a checkpoint.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a SiT/PixArt-α/refiner checkpoint's configuration, parameter count and forward FLOPs/sample.")

    @Argument(
        help:
            "A safetensors checkpoint (the project's own, or converted from the official PyTorch state dict), a fitted mixture file, or a preset (gmm:synthetic, gmm:mnist)."
    )
    var model: String
    @Option(
        help: "Attention heads, for converted checkpoints whose metadata does not say (shapes cannot determine it).")
    var heads: Int?
    @Flag(help: "Treat the checkpoint as a FlowTurbo refiner where the shapes are ambiguous.")
    var refiner = false

    func run() throws {
        if let g = try ModelLoader.load(model, heads: heads, refiner: refiner ? true : nil) as? GaussianMixtureField {
            print("model        \(model)")
            print("kind         exact analytic Gaussian-mixture velocity field (diagonal components)")
            print("sample shape \(g.sampleShape) (dimension \(g.dimension))")
            print("classes      \(g.numClasses) (+ null class \(g.numClasses) = mixture of all classes)")
            print("components   \(g.componentsPerClass) per class (\(g.totalComponents) in all)")
            print(String(format: "FLOPs/sample ~%.3f MFLOP per evaluation", g.flopsPerRow / 1e6))
            return
        }
        let file = try SafeTensors.load(model)
        if PixArtConfig.describes(file) {
            try printPixArt(PixArtModel.load(file, heads: heads, refiner: refiner ? true : nil), file: file)
            return
        }
        let m = try SiTModel.load(model, heads: heads, refiner: refiner ? true : nil)
        let c = m.config
        let fromMeta = (try? SiTConfig.fromMetadata(file.metadata, source: model)) != nil
        let rows: [(String, String)] = [
            ("file", model),
            ("kind", c.isRefiner ? "refiner (input = concat(x, v), output r + v)" : "predictor"),
            ("config source", fromMeta ? "metadata" : "derived from tensor shapes"),
            ("input", "\(c.inChannels)×\(c.inputSize)×\(c.inputSize)"),
            ("patch", "\(c.patchSize) (grid \(c.grid)×\(c.grid) = \(c.tokens) tokens)"),
            ("hidden", "\(c.hiddenSize)"),
            ("depth", "\(c.depth)"),
            ("heads", "\(c.numHeads) (head dim \(c.headDim))"),
            ("mlp hidden", "\(c.mlpHidden)"),
            ("classes", "\(c.numClasses) (+ null class \(c.numClasses))"),
            ("learn_sigma", "\(c.learnSigma) (network outputs \(c.outChannels) channels, first \(c.inChannels) kept)"),
            (
                "parameters",
                "\(c.parameterCount) (\(String(format: "%.3f", Double(c.parameterCount) / 1e6)) M, pos_embed excluded)"
            ),
            (
                "forward FLOPs/sample",
                String(
                    format: "%.4f GFLOP (token path) + %.4f MFLOP (t,y conditioning)",
                    c.flopsPerSample / 1e9, c.conditioningFlopsPerRow / 1e6)
            ),
        ]
        let width = rows.map { $0.0.count }.max() ?? 0
        for (k, v) in rows { print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
        let extra = file.metadata.filter { $0.key != SiTConfig.metadataKey }.sorted { $0.key < $1.key }
        for (k, v) in extra { print("meta.\(k)".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
    }

    private func printPixArt(_ m: PixArtModel, file: SafeTensorsFile) {
        let c = m.config
        let fromMeta = file.metadata[PixArtConfig.metadataKey] != nil
        let rows: [(String, String)] = [
            ("file", model),
            (
                "kind",
                "PixArt-α text-conditioned "
                    + (c.isRefiner ? "refiner (input = concat(x, v), output r + v)" : "predictor")
            ),
            ("config source", fromMeta ? "metadata" : "derived from tensor shapes"),
            ("input", "\(c.inChannels)×\(c.inputSize)×\(c.inputSize)"),
            ("patch", "\(c.patchSize) (grid \(c.grid)×\(c.grid) = \(c.tokens) tokens)"),
            ("hidden", "\(c.hiddenSize)"),
            ("depth", "\(c.depth)"),
            ("heads", "\(c.numHeads) (head dim \(c.headDim))"),
            ("mlp hidden", "\(c.mlpHidden)"),
            ("caption", "\(c.captionChannels) channels/token, null caption (y_embedding) \(c.captionTokens) tokens"),
            ("pred_sigma", "\(c.learnSigma) (network outputs \(c.outChannels) channels, first \(c.inChannels) kept)"),
            (
                "parameters",
                "\(c.parameterCount) (\(String(format: "%.3f", Double(c.parameterCount) / 1e6)) M, "
                    + "pos_embed and y_embedding excluded)"
            ),
            (
                "forward FLOPs/sample",
                String(
                    format: "%.4f GFLOP (token path, L = %d) + %.4f MFLOP (t, caption work)",
                    c.flopsPerSample / 1e9, c.captionTokens, c.conditioningFlopsPerRow / 1e6)
            ),
        ]
        let width = rows.map { $0.0.count }.max() ?? 0
        for (k, v) in rows { print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
        let extra = file.metadata.filter { $0.key != PixArtConfig.metadataKey }.sorted { $0.key < $1.key }
        for (k, v) in extra { print("meta.\(k)".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
    }
}
