import ArgumentParser
import FlowModels
import FlowTensor

/// `flowturbo forward`: one network evaluation on .npy inputs, for cross-checking against other implementations.
struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Evaluate a SiT or PixArt-α predictor or refiner once on .npy inputs; write the velocity as .npy.",
        discussion: """
            x: float32 (N,C,H,W); t: float32 (N,); v (refiners): like x.
            SiT (class-conditional): y int64 (N,) with N_classes = null class.
            PixArt-α (text-conditional): caption float32 (N,L,C_caption) token features, caption mask int64 (N,L)
            (1 = token, 0 = padding); a null-caption row is y_embedding with a full mask.
            Output: float32 (N,C,H,W). For a refiner the output is the refined velocity r + v
            (the network's raw offset r with --offset).
            """)

    @Option(help: "Safetensors checkpoint.") var model: String
    @Option(help: "Attention heads (needed for converted checkpoints of non-standard width).") var heads: Int?
    @Flag(help: "The checkpoint is a FlowTurbo refiner (settles the one shape-ambiguous case).") var refiner = false
    @Option(help: "Input latents, float32 (N,C,H,W).") var x: String
    @Option(help: "Times, float32 (N,), 0 = noise, 1 = data.") var t: String
    @Option(help: "Labels, int64 (N,) (class-conditional models).") var y: String?
    @Option(help: "Caption token features, float32 (N,L,C_caption) (text-conditional models).") var caption: String?
    @Option(help: "Caption mask, int64 (N,L), 1 = token, 0 = padding.") var captionMask: String?
    @Option(help: "Previous velocity for a refiner, float32 like x.") var v: String?
    @Flag(help: "For a refiner, write the raw network output r instead of r + v.") var offset = false
    @Option(help: "Output .npy path.") var out: String

    func run() throws {
        let xs = try NPY.read(x)
        guard xs.dtype == .float32 else {
            throw FlowError("\(x): expected float32 (<f4), got \(xs.dtype.rawValue); save x.astype(np.float32)")
        }
        let ts = try NPY.read(t)
        guard ts.shape.count == 1 else { throw FlowError("\(t): expected shape (N,), got \(ts.shape)") }
        let vt = try v.map { path -> Tensor in
            let a = try NPY.read(path)
            guard a.dtype == .float32 else {
                throw FlowError("\(path): expected float32 (<f4), got \(a.dtype.rawValue); save v.astype(np.float32)")
            }
            return a.tensor()
        }
        let file = try SafeTensors.load(model)
        let result: Tensor
        if PixArtConfig.describes(file) {
            guard let caption, let captionMask else {
                throw FlowError("\(model) is a text-conditioned PixArt-α model: give --caption and --caption-mask")
            }
            if y != nil { throw FlowError("--y is for class-conditional models; \(model) takes --caption") }
            let size = xs.shape.count == 4 ? xs.shape[3] : nil
            let m = try PixArtModel.load(file, heads: heads, refiner: refiner ? true : nil, inputSize: size)
            if offset && !m.isRefiner { throw FlowError("--offset applies to refiners only; drop it for a predictor") }
            let cap = try CaptionBatch.from(features: NPY.read(caption), mask: NPY.read(captionMask))
            result = try m.forward(
                x: xs.tensor(), t: ts.floats(), caption: cap.features, mask: cap.mask, v: vt,
                rawOffset: offset)
        } else {
            guard let y else { throw FlowError("\(model) is a class-conditional SiT model: give --y labels") }
            if caption != nil || captionMask != nil {
                throw FlowError("--caption is for text-conditioned models; \(model) is a class-conditional SiT model")
            }
            let m = try SiTModel.load(model, heads: heads, refiner: refiner ? true : nil)
            let ys = try NPY.read(y)
            guard ys.shape.count == 1 else { throw FlowError("\(y): expected shape (N,), got \(ys.shape)") }
            let labels = try ys.int64s().map { Int32(clamping: $0) }
            if offset && !m.isRefiner { throw FlowError("--offset applies to refiners only; drop it for a predictor") }
            result = try m.forward(x: xs.tensor(), t: ts.floats(), y: labels, v: vt, rawOffset: offset)
        }
        try NPY.write(result, to: out)
    }
}
