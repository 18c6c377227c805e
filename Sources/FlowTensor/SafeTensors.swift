import Foundation

/// A parsed safetensors file: its `__metadata__` strings and tensors, converted to float32 on access.
///
/// Every structural problem (truncated or oversized header, invalid JSON, unknown dtype, offsets
/// outside the data, a byte size that disagrees with the shape) is reported by `SafeTensors.load`
/// as a one-line `FlowError` naming the file and the tensor.
public struct SafeTensorsFile: Sendable {
    /// Element types a safetensors file may declare that flowturbo converts to float32.
    public enum DType: String, Sendable {
        case f32 = "F32"
        case f16 = "F16"
        case bf16 = "BF16"
        case f64 = "F64"
        var size: Int {
            switch self {
            case .f64: return 8
            case .f32: return 4
            case .f16, .bf16: return 2
            }
        }
    }

    struct Entry: Sendable {
        let dtype: DType
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    public let path: String
    public let metadata: [String: String]
    let entries: [String: Entry]
    let bytes: [UInt8]
    let dataStart: Int

    /// Tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// The declared shape of a tensor, or nil if the file has none by that name.
    public func shape(_ name: String) -> [Int]? { entries[name]?.shape }

    /// The declared dtype of a tensor.
    public func dtype(_ name: String) -> DType? { entries[name]?.dtype }

    /// Loads a tensor as float32; errors name the file and tensor.
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else {
            throw FlowError(
                "\(path): missing tensor '\(name)'; the file is not a checkpoint of this model kind (see `flowturbo inspect`)"
            )
        }
        let n = e.shape.reduce(1, *)
        var out = [Float](repeating: 0, count: n)
        bytes.withUnsafeBytes { raw in
            let base = dataStart + e.begin
            switch e.dtype {
            case .f32:
                for i in 0..<n {
                    out[i] = Float(
                        bitPattern: UInt32(
                            littleEndian: raw.loadUnaligned(fromByteOffset: base + 4 * i, as: UInt32.self)))
                }
            case .f16:
                for i in 0..<n {
                    out[i] = SafeTensors.halfToFloat(
                        UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + 2 * i, as: UInt16.self)))
                }
            case .bf16:
                for i in 0..<n {
                    out[i] = Float(
                        bitPattern: UInt32(
                            UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + 2 * i, as: UInt16.self)))
                            << 16)
                }
            case .f64:
                for i in 0..<n {
                    let bits = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 8 * i, as: UInt64.self))
                    out[i] = Float(Double(bitPattern: bits))
                }
            }
        }
        return Tensor(shape: e.shape, data: out)
    }

    /// Loads a tensor and checks it has exactly `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let e = entries[name] else { return try tensor(name) }
        guard e.shape == shape else {
            throw FlowError(
                "\(path): tensor '\(name)' has shape \(e.shape), expected \(shape); the checkpoint does not match the model configuration"
            )
        }
        return try tensor(name)
    }
}

/// Reading and writing the safetensors format (https://github.com/huggingface/safetensors layout).
public enum SafeTensors {
    /// Largest header accepted (the format's reference implementation uses 100 MB).
    public static let maxHeaderBytes = 100_000_000

    /// Reads and validates a safetensors file.
    public static func load(_ path: String) throws -> SafeTensorsFile {
        let bytes = try FileIO.read(path)
        return try parse(bytes, path: path)
    }

    /// Validates safetensors bytes; `path` names the source in errors.
    public static func parse(_ bytes: [UInt8], path: String) throws -> SafeTensorsFile {
        guard bytes.count >= 8 else {
            throw FlowError(
                "\(path): truncated safetensors file (\(bytes.count) bytes, need at least 8 for the header length)")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeaderBytes) else {
            throw FlowError(
                "\(path): safetensors header length \(n) exceeds the \(maxHeaderBytes)-byte limit; the file is corrupt or not safetensors"
            )
        }
        let headerLen = Int(n)
        guard 8 + headerLen <= bytes.count else {
            throw FlowError(
                "\(path): truncated safetensors file: header needs \(headerLen) bytes, only \(bytes.count - 8) present")
        }
        let headerData = Data(bytes[8..<(8 + headerLen)])
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw FlowError("\(path): corrupt safetensors header (not valid JSON)")
        }
        guard let dict = object as? [String: Any] else {
            throw FlowError("\(path): corrupt safetensors header (JSON is not an object)")
        }
        let dataStart = 8 + headerLen
        let dataLen = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [String: SafeTensorsFile.Entry] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw FlowError("\(path): corrupt safetensors header (__metadata__ is not an object)")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw FlowError("\(path): __metadata__ value for '\(k)' is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any],
                let dtypeName = info["dtype"] as? String,
                let shapeAny = info["shape"] as? [Any],
                let offsAny = info["data_offsets"] as? [Any], offsAny.count == 2
            else {
                throw FlowError("\(path): tensor '\(name)': malformed header entry (needs dtype, shape, data_offsets)")
            }
            guard let dtype = SafeTensorsFile.DType(rawValue: dtypeName) else {
                throw FlowError(
                    "\(path): tensor '\(name)': dtype \(dtypeName) is not supported (F32, F64, F16, BF16); convert with tensor.float()"
                )
            }
            var shape: [Int] = []
            var count = 1
            for d in shapeAny {
                guard let v = SafeTensors.integer(d), v >= 0, v < Int(Int32.max) else {
                    throw FlowError("\(path): tensor '\(name)': invalid shape \(shapeAny)")
                }
                shape.append(v)
                let (m, o) = count.multipliedReportingOverflow(by: v)
                guard !o else { throw FlowError("\(path): tensor '\(name)': shape \(shape) overflows") }
                count = m
            }
            guard let b = SafeTensors.integer(offsAny[0]), let e = SafeTensors.integer(offsAny[1]),
                b >= 0, e >= b
            else {
                throw FlowError("\(path): tensor '\(name)': invalid data_offsets \(offsAny)")
            }
            guard e <= dataLen else {
                throw FlowError(
                    "\(path): tensor '\(name)': data_offsets [\(b), \(e)] lie outside the file's \(dataLen) data bytes (truncated file?)"
                )
            }
            let (need, o) = count.multipliedReportingOverflow(by: dtype.size)
            guard !o, need == e - b else {
                throw FlowError("\(path): tensor '\(name)': \(e - b) bytes do not match shape \(shape) of \(dtypeName)")
            }
            entries[name] = .init(dtype: dtype, shape: shape, begin: b, end: e)
        }
        // Tensors must not share bytes (the format's reference implementation refuses overlaps too).
        let ordered = entries.filter { $0.value.end > $0.value.begin }.sorted { $0.value.begin < $1.value.begin }
        for (prev, next) in zip(ordered, ordered.dropFirst()) where next.value.begin < prev.value.end {
            throw FlowError(
                "\(path): tensors '\(prev.key)' [\(prev.value.begin), \(prev.value.end)) and "
                    + "'\(next.key)' [\(next.value.begin), \(next.value.end)) overlap; the file is corrupt")
        }
        return SafeTensorsFile(path: path, metadata: metadata, entries: entries, bytes: bytes, dataStart: dataStart)
    }

    /// A JSON number that is an exact integer (1.5, 1e300 and strings are not).
    static func integer(_ any: Any) -> Int? {
        guard let n = any as? NSNumber else { return nil }
        let d = n.doubleValue
        guard d.isFinite, d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(exactly: d)
    }

    /// Serialises float32 tensors (sorted by name) with string metadata.
    public static func encode(tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) throws -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let sorted = tensors.sorted { $0.name < $1.name }
        for (i, t) in sorted.enumerated() where i > 0 && sorted[i - 1].name == t.name {
            throw FlowError("safetensors: duplicate tensor name '\(t.name)'")
        }
        for t in sorted {
            let size = t.tensor.count * 4
            header[t.name] =
                ["dtype": "F32", "shape": t.tensor.shape, "data_offsets": [offset, offset + size]] as [String: Any]
            offset += size
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        var len = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &len) { out += $0 }
        out += json
        for t in sorted {
            t.tensor.data.withUnsafeBytes { out += $0 }
        }
        return out
    }

    /// Writes float32 tensors with metadata atomically (a failed write leaves any old file intact).
    public static func write(
        _ path: String, tensors: [(name: String, tensor: Tensor)], metadata: [String: String]
    ) throws {
        try FileIO.writeAtomically(path, try encode(tensors: tensors, metadata: metadata))
    }

    /// IEEE 754 binary16 → binary32, exact (including subnormals, infinities and NaN).
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1f)
        let frac = UInt32(h & 0x3ff)
        if exp == 0 {
            if frac == 0 { return Float(bitPattern: sign) }
            let v = Float(frac) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (frac << 13)) }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (frac << 13))
    }
}
