import FlowProto

/// The per-shard timings file `latents/shard-NNNNNN.json`: one JSON object with sorted keys and no whitespace.
///
/// Written by a direct encoder rather than `JSONSerialization` with sorted keys, which sorted its keys through
/// locale-aware string comparison and bridged every value through `NSDictionary`: 37% of the aggregator's
/// profile at ~5,000 completions/s. Readers parse it with any JSON parser (`flowturbo merge` reads `nfe`).
enum ShardMeta {
    /// The JSON bytes for one validated result (timings already checked finite by `plausibleTimings`).
    static func encode(_ r: Flowturbo_V1_ShardResult, shard: Int, first: Int, count: Int) -> [UInt8] {
        var out = JSONWriter()
        out.object {
            // Keys in byte order, as `JSONSerialization` wrote them with `.sortedKeys`.
            $0.key("batch_seconds", r.batchSeconds)
            $0.key("count", count)
            $0.key("first", first)
            $0.key("nfe", r.nfe.map { Int($0) })
            $0.key("predictor_seconds", r.timings.predictorSeconds)
            $0.key("refiner_seconds", r.timings.refinerSeconds)
            $0.key("shard", shard)
            $0.key("solver_seconds", r.timings.solverSeconds)
            $0.key("text_encoder_seconds", r.timings.textEncoderSeconds)
            $0.key("total_seconds", r.timings.totalSeconds)
            $0.key("worker", r.workerID)
        }
        return out.bytes
    }
}

/// A minimal JSON writer for flat objects of numbers, strings and number arrays (RFC 8259).
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    private var first = true

    init() { bytes.reserveCapacity(256) }

    /// `{ … }` around the keys `body` writes.
    mutating func object(_ body: (inout JSONWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        first = true
        body(&self)
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func name(_ k: String) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        string(k)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func key(_ k: String, _ v: Int) {
        name(k)
        bytes += Array(String(v).utf8)
    }

    mutating func key(_ k: String, _ v: Double) {
        name(k)
        number(v)
    }

    mutating func key(_ k: String, _ v: [Int]) {
        name(k)
        array(v.count) { $0.bytes += Array(String(v[$1]).utf8) }
    }

    mutating func key(_ k: String, _ v: [Double]) {
        name(k)
        array(v.count) { $0.number(v[$1]) }
    }

    mutating func key(_ k: String, _ v: String) {
        name(k)
        string(v)
    }

    private mutating func array(_ n: Int, _ element: (inout JSONWriter, Int) -> Void) {
        bytes.append(UInt8(ascii: "["))
        for i in 0..<n {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            element(&self, i)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Shortest round-trip decimal (`Double.description`: `0.25`, `1e-05`, `3.0` are all JSON numbers);
    /// non-finite values, which JSON cannot hold, are written as 0.
    private mutating func number(_ v: Double) {
        bytes += Array((v.isFinite ? v : 0).description.utf8)
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\u00XX`, everything else as UTF-8.
    private mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(b)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes += Array("\\u00".utf8)
                bytes.append(hex[Int(b >> 4)])
                bytes.append(hex[Int(b & 15)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
