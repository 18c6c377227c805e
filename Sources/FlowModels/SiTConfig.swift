import FlowTensor
import Foundation

/// Hyper-parameters of a SiT velocity predictor or FlowTurbo velocity refiner.
///
/// `inChannels` is the sample's channel count C. A refiner's patch embedding reads 2·C channels
/// (x concatenated with the previous velocity). With `learnSigma` the network emits 2·C channels
/// and the forward keeps the first C, as the official code does.
public struct SiTConfig: Equatable, Codable, Sendable {
    public var inputSize: Int
    public var patchSize: Int
    public var inChannels: Int
    public var hiddenSize: Int
    public var depth: Int
    public var numHeads: Int
    public var mlpHidden: Int
    public var numClasses: Int
    public var learnSigma: Bool
    public var isRefiner: Bool
    public var frequencyEmbeddingSize: Int = 256

    public init(
        inputSize: Int, patchSize: Int, inChannels: Int, hiddenSize: Int, depth: Int, numHeads: Int,
        mlpRatio: Double = 4, numClasses: Int, learnSigma: Bool, isRefiner: Bool
    ) {
        self.inputSize = inputSize
        self.patchSize = patchSize
        self.inChannels = inChannels
        self.hiddenSize = hiddenSize
        self.depth = depth
        self.numHeads = numHeads
        self.mlpHidden = Int(Double(hiddenSize) * mlpRatio)
        self.numClasses = numClasses
        self.learnSigma = learnSigma
        self.isRefiner = isRefiner
    }

    /// Channels the patch embedding reads (2·C for a refiner).
    public var embedChannels: Int { isRefiner ? 2 * inChannels : inChannels }
    /// Channels the final layer writes (2·C with learn_sigma).
    public var outChannels: Int { learnSigma ? 2 * inChannels : inChannels }
    /// Patches per side.
    public var grid: Int { inputSize / patchSize }
    /// Tokens per sample.
    public var tokens: Int { grid * grid }
    /// Per-head width.
    public var headDim: Int { hiddenSize / numHeads }
    /// Floats in one sample (C·H·W).
    public var sampleSize: Int { inChannels * inputSize * inputSize }
    /// Floats of adaLN modulation per row: 6·D per block plus 2·D for the final layer.
    public var modulationWidth: Int { depth * 6 * hiddenSize + 2 * hiddenSize }

    /// Checks the configuration is internally consistent; the error names the field.
    public func validate(source: String) throws {
        func bad(_ s: FlowError.Message) -> FlowError { FlowError("\(source): invalid SiT config: \(s)") }
        // Bounds first, so nothing below (grid, tokens, parameter count, buffers) can overflow or exhaust memory.
        let fields: [(String, Int, ClosedRange<Int>)] = [
            ("inputSize", inputSize, 1...Bounds.maxInputSize), ("patchSize", patchSize, 1...Bounds.maxInputSize),
            ("inChannels", inChannels, 1...Bounds.maxModelWidth), ("hiddenSize", hiddenSize, 1...Bounds.maxModelWidth),
            ("depth", depth, 0...Bounds.maxDepth), ("numHeads", numHeads, 1...Bounds.maxModelWidth),
            ("mlpHidden", mlpHidden, 1...Bounds.maxModelWidth), ("numClasses", numClasses, 0...Bounds.maxClasses),
            ("frequencyEmbeddingSize", frequencyEmbeddingSize, 1...Bounds.maxModelWidth),
        ]
        for (name, value, range) in fields where !range.contains(value) {
            throw bad(
                "\(name) \(value) is outside \(range.lowerBound)…\(range.upperBound); the file is corrupt "
                    + "or not a SiT model")
        }
        guard inputSize > 0, patchSize > 0, inputSize % patchSize == 0 else {
            throw bad("input size \(inputSize) is not a multiple of patch size \(patchSize)")
        }
        guard hiddenSize > 0, hiddenSize % 4 == 0 else {
            throw bad("hidden size \(hiddenSize) must be a positive multiple of 4 (sin-cos position embedding)")
        }
        guard numHeads > 0, hiddenSize % numHeads == 0 else {
            throw bad("hidden size \(hiddenSize) is not divisible by \(numHeads) heads; pass the right \(.heads)")
        }
        guard tokens <= Bounds.maxTokens else {
            throw bad(
                "\(tokens) tokens per sample exceed "
                    + "\(Bounds.maxTokens); use a larger patch")
        }
        // Every bound above keeps this sum far below Int.max; the weights must fit in memory as float32.
        guard parameterCount <= Bounds.memoryBytes / 4 else {
            throw bad("\(parameterCount) parameters need more than this machine's \(Bounds.memoryBytes >> 20) MiB")
        }
        // One row's largest activation (attention scores per head, or the MLP hidden) must fit as well.
        let perRow = tokens * max(tokens * numHeads, mlpHidden, 6 * hiddenSize)
        guard perRow <= Bounds.memoryBytes / 4 else {
            throw bad(
                "one sample's activations (\(perRow) floats) need more than this machine's "
                    + "\(Bounds.memoryBytes >> 20) MiB")
        }
    }

    /// Multiply-add FLOPs (×2) of one forward of one sample, excluding the (t, y) conditioning path.
    public var flopsPerSample: Double {
        let t = Double(tokens)
        let d = Double(hiddenSize)
        let p2 = Double(patchSize * patchSize)
        let embed = 2 * t * Double(embedChannels) * p2 * d
        let block = 2 * t * d * 3 * d + 4 * t * t * d + 2 * t * d * d + 4 * t * d * Double(mlpHidden)
        let final = 2 * t * d * p2 * Double(outChannels)
        return embed + Double(depth) * block + final
    }

    /// FLOPs of the conditioning path for one row at one time (timestep MLP + every adaLN linear).
    public var conditioningFlopsPerRow: Double {
        let d = Double(hiddenSize)
        return 2 * Double(frequencyEmbeddingSize) * d + 2 * d * d + 2 * d * Double(modulationWidth)
    }

    /// Parameter count (the position embedding is a fixed buffer and is not counted, as in SiT's paper).
    public var parameterCount: Int {
        let d = hiddenSize
        let p2 = patchSize * patchSize
        let embed = d * embedChannels * p2 + d
        let temb = frequencyEmbeddingSize * d + d + d * d + d
        let yemb = (numClasses + 1) * d
        let block =
            (3 * d * d + 3 * d) + (d * d + d) + (mlpHidden * d + mlpHidden) + (d * mlpHidden + d) + (6 * d * d + 6 * d)
        let final = (p2 * outChannels * d + p2 * outChannels) + (2 * d * d + 2 * d)
        return embed + temb + yemb + depth * block + final
    }

    // MARK: metadata

    /// Metadata key holding the JSON config in the project's own safetensors files.
    public static let metadataKey = "flowturbo.sit_config"

    /// The `__metadata__` entries that describe this config.
    public var metadata: [String: String] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = String(decoding: (try? enc.encode(self)) ?? Data(), as: UTF8.self)
        return [SiTConfig.metadataKey: json, "format": "flowturbo-sit-v1", "kind": isRefiner ? "refiner" : "predictor"]
    }

    /// Reads the config from a file's `__metadata__`, or nil if it carries none.
    public static func fromMetadata(_ m: [String: String], source: String) throws -> SiTConfig? {
        guard let s = m[metadataKey] else { return nil }
        do { return try JSONDecoder().decode(SiTConfig.self, from: Data(s.utf8)) } catch {
            throw FlowError("\(source): metadata '\(metadataKey)' is not a valid SiT config (\(error))")
        }
    }

    /// Refuses a metadata config that disagrees with the file's tensors on the block count (a `depth` smaller
    /// than the file's would silently drop blocks; a larger one is caught when the missing tensors load).
    public func checkDepth(against f: SafeTensorsFile) throws {
        guard f.shape("blocks.\(depth).attn.qkv.weight") == nil else {
            var n = depth
            while n < Bounds.maxDepth && f.shape("blocks.\(n).attn.qkv.weight") != nil { n += 1 }
            throw FlowError(
                "\(f.path): metadata says depth \(depth) but the file holds blocks 0..<\(n); the "
                    + "metadata is wrong — fix '\(SiTConfig.metadataKey)'")
        }
    }

    /// Head counts of the published SiT/DiT sizes, used when a converted file gives no --heads.
    static let knownHeads: [Int: Int] = [1152: 16, 1024: 16, 768: 12, 384: 6]

    /// Derives the config from an official state dict's tensor shapes (a converted PyTorch checkpoint).
    ///
    /// Everything the shapes determine is derived; `heads` comes from the caller (or the published
    /// sizes); `refiner` resolves the one ambiguous case (embed channels == output channels).
    public static func derive(from f: SafeTensorsFile, heads: Int?, refiner: Bool?) throws -> SiTConfig {
        let src = f.path
        func shape(_ n: String, rank: Int) throws -> [Int] {
            guard let s = f.shape(n) else {
                throw FlowError(
                    "\(src): missing tensor '\(n)'; not a SiT/FlowTurbo checkpoint (official tensor names expected)")
            }
            guard s.count == rank else {
                throw FlowError("\(src): tensor '\(n)' has rank \(s.count), expected \(rank)")
            }
            return s
        }
        let xw = try shape("x_embedder.proj.weight", rank: 4)
        let d = xw[0]
        let cx = xw[1]
        let p = xw[2]
        guard xw[3] == p else {
            throw FlowError("\(src): tensor 'x_embedder.proj.weight' has non-square patch \(xw[2])×\(xw[3])")
        }
        let pos = try shape("pos_embed", rank: 3)
        let g = Int(Double(pos[1]).squareRoot().rounded())
        guard g * g == pos[1], pos[2] == d else {
            throw FlowError("\(src): tensor 'pos_embed' shape \(pos) is not [1, grid², \(d)]")
        }
        let table = try shape("y_embedder.embedding_table.weight", rank: 2)
        let fl = try shape("final_layer.linear.weight", rank: 2)
        guard fl[0] % (p * p) == 0 else {
            throw FlowError(
                "\(src): tensor 'final_layer.linear.weight' rows \(fl[0]) not a multiple of patch² \(p * p)")
        }
        let cout = fl[0] / (p * p)
        var depth = 0
        while f.shape("blocks.\(depth).attn.qkv.weight") != nil { depth += 1 }
        let mlp = depth > 0 ? try shape("blocks.0.mlp.fc1.weight", rank: 2)[0] : 4 * d
        let isRef: Bool
        let c: Int
        let sigma: Bool
        if cout == 2 * cx {
            if refiner == true {
                throw FlowError(
                    "\(src): output has 2× the input channels, which is a predictor with learn_sigma, not a refiner; drop \(.refiner)"
                )
            }
            isRef = false
            c = cx
            sigma = true
        } else if cx == 2 * cout {
            if refiner == false {
                throw FlowError("\(src): input has 2× the output channels, which is a refiner; pass \(.refiner)")
            }
            isRef = true
            c = cout
            sigma = false
        } else if cx == cout {
            if refiner == true {
                guard cx % 2 == 0 else {
                    throw FlowError("\(src): \(.refiner) needs an even number of input channels, got \(cx)")
                }
                isRef = true
                c = cx / 2
                sigma = true
            } else {
                isRef = false
                c = cx
                sigma = false
            }
        } else {
            throw FlowError("\(src): channels in \(cx) / out \(cout) match neither a predictor nor a refiner")
        }
        guard let h = heads ?? knownHeads[d] else {
            throw FlowError(
                "\(src): the tensors do not determine the number of attention heads for hidden size \(d); pass \(.heads) H"
            )
        }
        var cfg = SiTConfig(
            inputSize: g * p, patchSize: p, inChannels: c, hiddenSize: d, depth: depth, numHeads: h,
            numClasses: max(table[0] - 1, 0), learnSigma: sigma, isRefiner: isRef)
        cfg.mlpHidden = mlp
        try cfg.validate(source: src)
        return cfg
    }
}
