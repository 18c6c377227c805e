import FlowTensor
import Foundation

/// Hyper-parameters of a PixArt-α text-conditioned transformer (predictor) or its FlowTurbo refiner.
///
/// `inChannels` is the sample's channel count C; a refiner's patch embedding reads 2·C channels
/// (x concatenated with the previous velocity). With `learnSigma` (PixArt's `pred_sigma`) the network
/// emits 2·C channels and the forward keeps the first C. Captions are (L, captionChannels) token features;
/// `captionTokens` is L_max, the length of the null caption `y_embedder.y_embedding`.
public struct PixArtConfig: Equatable, Codable, Sendable {
    public var inputSize: Int
    public var patchSize: Int
    public var inChannels: Int
    public var hiddenSize: Int
    public var depth: Int
    public var numHeads: Int
    public var mlpHidden: Int
    public var captionChannels: Int
    public var captionTokens: Int
    public var learnSigma: Bool
    public var isRefiner: Bool
    public var frequencyEmbeddingSize: Int = 256

    public init(
        inputSize: Int, patchSize: Int, inChannels: Int, hiddenSize: Int, depth: Int, numHeads: Int,
        mlpRatio: Double = 4, captionChannels: Int, captionTokens: Int, learnSigma: Bool, isRefiner: Bool
    ) {
        self.inputSize = inputSize
        self.patchSize = patchSize
        self.inChannels = inChannels
        self.hiddenSize = hiddenSize
        self.depth = depth
        self.numHeads = numHeads
        self.mlpHidden = Int(Double(hiddenSize) * mlpRatio)
        self.captionChannels = captionChannels
        self.captionTokens = captionTokens
        self.learnSigma = learnSigma
        self.isRefiner = isRefiner
    }

    /// Channels the patch embedding reads (2·C for a refiner).
    public var embedChannels: Int { isRefiner ? 2 * inChannels : inChannels }
    /// Channels the final layer writes (2·C with pred_sigma).
    public var outChannels: Int { learnSigma ? 2 * inChannels : inChannels }
    /// Patches per side.
    public var grid: Int { inputSize / patchSize }
    /// Image tokens per sample.
    public var tokens: Int { grid * grid }
    /// Per-head width.
    public var headDim: Int { hiddenSize / numHeads }
    /// Floats in one sample (C·H·W).
    public var sampleSize: Int { inChannels * inputSize * inputSize }
    /// Floats of modulation per row and time: 6·D per block (t_block + scale_shift_table), 2·D for the final layer.
    public var modulationWidth: Int { depth * 6 * hiddenSize + 2 * hiddenSize }

    /// Checks the configuration is internally consistent; the error names the field.
    public func validate(source: String) throws {
        func bad(_ s: String) -> FlowError { FlowError("\(source): invalid PixArt config: \(s)") }
        guard inputSize > 0, patchSize > 0, inputSize % patchSize == 0 else {
            throw bad("input size \(inputSize) is not a multiple of patch size \(patchSize)")
        }
        guard hiddenSize > 0, hiddenSize % 4 == 0 else {
            throw bad("hidden size \(hiddenSize) must be a positive multiple of 4 (sin-cos position embedding)")
        }
        guard numHeads > 0, hiddenSize % numHeads == 0 else {
            throw bad("hidden size \(hiddenSize) is not divisible by \(numHeads) heads; give the right head count")
        }
        guard depth >= 0, inChannels > 0, mlpHidden > 0, captionChannels > 0, captionTokens > 0 else {
            throw bad("non-positive dimension")
        }
    }

    /// Multiply-add FLOPs (×2) of the token path of one sample with `captionLength` valid caption tokens
    /// (excludes the per-(t, caption) work: timestep MLP, t_block, caption projection and cross-attention K/V).
    public func flopsPerSample(captionLength: Int) -> Double {
        let t = Double(tokens)
        let d = Double(hiddenSize)
        let p2 = Double(patchSize * patchSize)
        let l = Double(captionLength)
        let embed = 2 * t * Double(embedChannels) * p2 * d
        let selfAttn = 2 * t * d * 3 * d + 4 * t * t * d + 2 * t * d * d
        let cross = 2 * t * d * d + 4 * t * l * d + 2 * t * d * d
        let block = selfAttn + cross + 4 * t * d * Double(mlpHidden)
        let final = 2 * t * d * p2 * Double(outChannels)
        return embed + Double(depth) * block + final
    }

    /// Token-path FLOPs of one sample at the full caption length L_max.
    public var flopsPerSample: Double { flopsPerSample(captionLength: captionTokens) }

    /// FLOPs per row of the work done once per (t, caption): timestep MLP + t_block, caption projection and
    /// every block's K/V projection at L_max tokens.
    public var conditioningFlopsPerRow: Double {
        let d = Double(hiddenSize)
        let l = Double(captionTokens)
        let time = 2 * Double(frequencyEmbeddingSize) * d + 2 * d * d + 2 * d * 6 * d
        let caption = 2 * l * Double(captionChannels) * d + 2 * l * d * d + Double(depth) * 2 * l * d * 2 * d
        return time + caption
    }

    /// Parameter count (pos_embed and the null caption y_embedding are buffers and are not counted).
    public var parameterCount: Int {
        let d = hiddenSize
        let p2 = patchSize * patchSize
        let h = mlpHidden
        let embed = d * embedChannels * p2 + d
        let temb = frequencyEmbeddingSize * d + d + d * d + d
        let tblock = 6 * d * d + 6 * d
        let yproj = captionChannels * d + d + d * d + d
        let attn = (3 * d * d + 3 * d) + (d * d + d)
        let cross = (d * d + d) + (2 * d * d + 2 * d) + (d * d + d)
        let block = 6 * d + attn + cross + (h * d + h) + (d * h + d)
        let final = 2 * d + p2 * outChannels * d + p2 * outChannels
        return embed + temb + tblock + yproj + depth * block + final
    }

    // MARK: metadata

    /// Metadata key holding the JSON config in the project's own safetensors files.
    public static let metadataKey = "flowturbo.pixart_config"

    /// The `__metadata__` entries that describe this config.
    public var metadata: [String: String] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = String(decoding: (try? enc.encode(self)) ?? Data(), as: UTF8.self)
        let kind = isRefiner ? "refiner" : "predictor"
        return [PixArtConfig.metadataKey: json, "format": "flowturbo-pixart-v1", "kind": kind]
    }

    /// Reads the config from a file's `__metadata__`, or nil if it carries none.
    public static func fromMetadata(_ m: [String: String], source: String) throws -> PixArtConfig? {
        guard let s = m[metadataKey] else { return nil }
        do {
            return try JSONDecoder().decode(PixArtConfig.self, from: Data(s.utf8))
        } catch {
            throw FlowError("\(source): metadata '\(metadataKey)' is not a valid PixArt config (\(error))")
        }
    }

    /// True when a safetensors file holds a PixArt-style network (its metadata or the official tensor names).
    public static func describes(_ f: SafeTensorsFile) -> Bool {
        f.metadata[metadataKey] != nil || f.shape("t_block.1.weight") != nil || f.shape("y_embedder.y_embedding") != nil
    }

    /// Head counts of the published PixArt sizes, used when a converted file gives no head count.
    static let knownHeads: [Int: Int] = [1152: 16]
}
