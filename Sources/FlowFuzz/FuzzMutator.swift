import FlowCluster
import FlowTensor

/// Deterministic input mutator for the fuzz harness (`flowturbo fuzz`).
///
/// Byte-level mutations (bit flips, byte sets to interesting values, truncation, insertion of random
/// bytes, chunk duplication/deletion, splicing with another corpus entry, random-length garbage)
/// plus a protobuf-aware one: parse the wire format recursively, replace one varint anywhere in the
/// tree with an interesting value (0, 2^31, 2^32−1, 2^63, 2^64−1, …), and re-serialize with the
/// lengths fixed up — so nested fields such as `ShardResult.shard_id` reach the handlers with
/// extreme values instead of being rejected by the protobuf decoder.
public struct FuzzMutator {
    private var rng: SeededRandom

    /// Creates a mutator; the same seed gives the same sequence of mutations.
    public init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    /// Next 64 random bits (SplitMix64, FlowTensor's `SeededRandom`).
    public mutating func next() -> UInt64 { rng.next() }

    /// Uniform integer in 0..<n (n ≥ 1).
    public mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }

    /// Interesting 64-bit values for integer fields.
    public static let interesting: [UInt64] = [
        0, 1, 2, 7, 8, 16, 255, 256, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000,
        0xFFFF_FFFF, 0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF,
        0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFE,
    ]

    /// `input` with 1–4 stacked mutations; `corpus` supplies splice partners.
    public mutating func mutate(_ input: [UInt8], corpus: [[UInt8]]) -> [UInt8] {
        var x = input
        for _ in 0...below(4) { x = mutateOnce(x, corpus: corpus) }
        return x
    }

    private mutating func mutateOnce(_ input: [UInt8], corpus: [[UInt8]]) -> [UInt8] {
        var x = input
        switch below(10) {
        case 0:  // bit flips
            if x.isEmpty { return [UInt8(truncatingIfNeeded: next())] }
            for _ in 0...below(8) {
                let i = below(x.count)
                x[i] ^= 1 << UInt8(below(8))
            }
        case 1:  // interesting bytes
            if x.isEmpty { return [0xFF] }
            let bytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x0A, 0x09]
            for _ in 0...below(4) { x[below(x.count)] = bytes[below(bytes.count)] }
        case 2:  // truncation
            x = Array(x.prefix(below(x.count + 1)))
        case 3:  // insert random bytes
            let n = 1 + below(16)
            let at = below(x.count + 1)
            x.insert(contentsOf: (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) }, at: at)
        case 4:  // delete a chunk
            if x.count > 1 {
                let a = below(x.count)
                let b = min(x.count, a + 1 + below(32))
                x.removeSubrange(a..<b)
            }
        case 5:  // duplicate a chunk
            if !x.isEmpty {
                let a = below(x.count)
                let b = min(x.count, a + 1 + below(64))
                x.insert(contentsOf: x[a..<b], at: below(x.count + 1))
            }
        case 6:  // splice with another input
            if let other = corpus.isEmpty ? nil : corpus[below(corpus.count)], !other.isEmpty {
                let cut = below(x.count + 1)
                let from = below(other.count)
                x = Array(x.prefix(cut)) + Array(other[from...])
            }
        case 7:  // random-length garbage
            x = (0..<below(512)).map { _ in UInt8(truncatingIfNeeded: next()) }
        case 8, 9:  // protobuf-aware varint replacement (falls back to a bit flip)
            if let y = replaceVarint(x) { x = y } else if !x.isEmpty { x[below(x.count)] ^= 1 << UInt8(below(8)) }
        default: break
        }
        return x
    }

    // MARK: protobuf wire format

    private indirect enum Field {
        case varint(UInt64)
        case fixed64([UInt8])
        case fixed32([UInt8])
        case bytes([UInt8])
        case message([(UInt64, Field)])
    }

    /// Parses a buffer as a protobuf message (nil if it is not one).
    private static func parse(_ b: ArraySlice<UInt8>, depth: Int) -> [(UInt64, Field)]? {
        var i = b.startIndex
        var out: [(UInt64, Field)] = []
        func varint() -> UInt64? {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while i < b.endIndex && shift < 64 {
                let byte = b[i]
                i += 1
                v |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return v }
                shift += 7
            }
            return nil
        }
        while i < b.endIndex {
            guard let tag = varint(), tag >> 3 > 0 else { return nil }
            switch tag & 7 {
            case 0:
                guard let v = varint() else { return nil }
                out.append((tag, .varint(v)))
            case 1:
                guard b.endIndex - i >= 8 else { return nil }
                out.append((tag, .fixed64(Array(b[i..<i + 8]))))
                i += 8
            case 5:
                guard b.endIndex - i >= 4 else { return nil }
                out.append((tag, .fixed32(Array(b[i..<i + 4]))))
                i += 4
            case 2:
                guard let n = varint(), n <= UInt64(b.endIndex - i) else { return nil }
                let sub = b[i..<i + Int(n)]
                i += Int(n)
                if depth < 8, !sub.isEmpty, let m = parse(sub, depth: depth + 1) {
                    out.append((tag, .message(m)))
                } else {
                    out.append((tag, .bytes(Array(sub))))
                }
            default: return nil
            }
        }
        return out
    }

    private static func appendVarint(_ v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func serialize(_ fields: [(UInt64, Field)]) -> [UInt8] {
        var out: [UInt8] = []
        for (tag, f) in fields {
            appendVarint(tag, to: &out)
            switch f {
            case .varint(let v): appendVarint(v, to: &out)
            case .fixed64(let b), .fixed32(let b): out += b
            case .bytes(let b):
                appendVarint(UInt64(b.count), to: &out)
                out += b
            case .message(let m):
                let b = serialize(m)
                appendVarint(UInt64(b.count), to: &out)
                out += b
            }
        }
        return out
    }

    private static func countVarints(_ fields: [(UInt64, Field)]) -> Int {
        fields.reduce(0) { n, f in
            switch f.1 {
            case .varint: return n + 1
            case .message(let m): return n + countVarints(m)
            default: return n
            }
        }
    }

    private static func replacing(
        _ fields: [(UInt64, Field)], index: inout Int, with value: UInt64
    ) -> [(UInt64, Field)] {
        fields.map { tag, f in
            switch f {
            case .varint:
                defer { index -= 1 }
                return index == 0 ? (tag, .varint(value)) : (tag, f)
            case .message(let m): return (tag, .message(replacing(m, index: &index, with: value)))
            default: return (tag, f)
            }
        }
    }

    /// One varint anywhere in the message tree set to an interesting (or random) value.
    private mutating func replaceVarint(_ x: [UInt8]) -> [UInt8]? {
        guard let fields = FuzzMutator.parse(x[...], depth: 0) else { return nil }
        let n = FuzzMutator.countVarints(fields)
        guard n > 0 else { return nil }
        var index = below(n)
        let value = below(4) == 0 ? next() : FuzzMutator.interesting[below(FuzzMutator.interesting.count)]
        return FuzzMutator.serialize(FuzzMutator.replacing(fields, index: &index, with: value))
    }
}
