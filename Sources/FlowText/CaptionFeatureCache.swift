import FlowModels
import FlowTensor
import Foundation

/// Token features of a fixed set of captions, padded to L tokens: `features` (U, L, C) float32 (0 at padding) and
/// `mask` (U, L) 1 = real token, with `row(of:)` from caption text to row.
public struct CaptionFeatureTable: Sendable {
    public let captions: [String]
    public let length: Int
    public let channels: Int
    public let features: [Float]
    public let mask: [Int32]
    public let encoderDigest: String
    let index: [String: Int]

    public init(
        captions: [String], length: Int, channels: Int, features: [Float], mask: [Int32],
        encoderDigest: String
    ) {
        self.captions = captions
        self.length = length
        self.channels = channels
        self.features = features
        self.mask = mask
        self.encoderDigest = encoderDigest
        index = Dictionary(captions.enumerated().map { ($1, $0) }) { a, _ in a }
    }

    /// The row of `caption`, nil when it is not in the table.
    public func row(of caption: String) -> Int? { index[caption] }

    /// Real tokens of row `r`.
    public func tokens(_ r: Int) -> Int { mask[(r * length)..<((r + 1) * length)].reduce(0) { $0 + Int($1) } }
}

/// Encodes captions with MiniLM once and keeps them on disk: a safetensors file holding `features` (U, L, C) and
/// `mask` (U, L), with the caption texts, L and the encoder's SHA-256 digest as JSON under the metadata key
/// `flowturbo.caption_cache`. Loading reuses every cached caption of the same encoder and length, encodes only the
/// new ones and rewrites the file when it had to encode any.
public enum CaptionFeatureCache {
    public static let metadataKey = "flowturbo.caption_cache"

    struct Header: Codable {
        var encoder_digest: String
        var length: Int
        var captions: [String]
    }

    /// The default cache path for a caption set: `DIR/PREFIX-<12 hex of the encoder digest>-L<L>.safetensors`.
    public static func defaultPath(directory: String = "data", prefix: String, digest: String, length: Int) -> String {
        "\(directory)/\(prefix)-\(digest.prefix(12))-L\(length).safetensors"
    }

    /// Features of `captions` at `length` tokens from `path` (when it matches) plus the encoder for the rest.
    /// A caption longer than `length` tokens is an error naming it (raise the length).
    public static func load(
        captions: [String], length: Int, encoder: MiniLMEncoder, digest: String, path: String,
        log: (String) -> Void = { _ in }
    ) throws -> CaptionFeatureTable {
        let c = encoder.config.hidden
        var cached: CaptionFeatureTable?
        if FileIO.exists(path) {
            let f = try SafeTensors.load(path)
            if let text = f.metadata[metadataKey],
                let h = try? JSONDecoder().decode(Header.self, from: Data(text.utf8)),
                h.encoder_digest == digest, h.length == length
            {
                let feats = try f.tensor("features", shape: [h.captions.count, length, c])
                let mask = try f.tensor("mask", shape: [h.captions.count, length])
                cached = CaptionFeatureTable(
                    captions: h.captions, length: length, channels: c, features: feats.data,
                    mask: mask.data.map { $0 != 0 ? 1 : 0 }, encoderDigest: digest)
            } else {
                log("\(path): cache is for another encoder or length; re-encoding")
            }
        }
        let missing = Array(Set(captions.filter { cached?.row(of: $0) == nil })).sorted()
        var fresh: TextEncoding?
        if !missing.isEmpty {
            let ids = encoder.tokenize(missing)
            if let k = ids.firstIndex(where: { $0.count > length }) {
                throw FlowError(
                    "caption '\(missing[k])' has \(ids[k].count) tokens, more than the caption length "
                        + "\(length); raise the caption token count")
            }
            log("encoding \(missing.count) captions with MiniLM (\(cached?.captions.count ?? 0) cached)")
            fresh = try encoder.encode(tokenIDs: ids, padTo: length)
        }
        // the table in the order asked for
        var feats = [Float](repeating: 0, count: captions.count * length * c)
        var mask = [Int32](repeating: 0, count: captions.count * length)
        let freshRow = Dictionary(missing.enumerated().map { ($1, $0) }) { a, _ in a }
        for (i, cap) in captions.enumerated() {
            if let r = cached?.row(of: cap), let t = cached {
                feats.replaceSubrange(
                    (i * length * c)..<((i + 1) * length * c),
                    with: t.features[(r * length * c)..<((r + 1) * length * c)])
                mask.replaceSubrange((i * length)..<((i + 1) * length), with: t.mask[(r * length)..<((r + 1) * length)])
            } else if let r = freshRow[cap], let e = fresh {
                feats.replaceSubrange(
                    (i * length * c)..<((i + 1) * length * c),
                    with: e.features.data[(r * length * c)..<((r + 1) * length * c)])
                for j in 0..<length { mask[i * length + j] = e.mask.data[r * length + j] != 0 ? 1 : 0 }
            }
        }
        let table = CaptionFeatureTable(
            captions: captions, length: length, channels: c, features: feats, mask: mask,
            encoderDigest: digest)
        if !missing.isEmpty { try save(table, merging: cached, path: path) }
        return table
    }

    /// Writes `table` (plus the rows of `old` it lacks, so one cache serves several caption sets).
    static func save(_ table: CaptionFeatureTable, merging old: CaptionFeatureTable?, path: String) throws {
        var caps = table.captions
        var feats = table.features
        var mask = table.mask
        let l = table.length
        let c = table.channels
        if let old {
            for (r, cap) in old.captions.enumerated() where table.row(of: cap) == nil {
                caps.append(cap)
                feats += old.features[(r * l * c)..<((r + 1) * l * c)]
                mask += old.mask[(r * l)..<((r + 1) * l)]
            }
        }
        let h = Header(encoder_digest: table.encoderDigest, length: l, captions: caps)
        let json = String(decoding: try JSONEncoder().encode(h), as: UTF8.self)
        try FileIO.makeDirectories((path as NSString).deletingLastPathComponent)
        try SafeTensors.write(
            path,
            tensors: [
                ("features", Tensor(shape: [caps.count, l, c], data: feats)),
                ("mask", Tensor(shape: [caps.count, l], data: mask.map { Float($0) })),
            ], metadata: [metadataKey: json])
    }
}
