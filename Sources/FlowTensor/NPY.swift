import Foundation

/// NumPy `.npy` reading and writing (format versions 1.0–3.0, little-endian, C order).
///
/// Supported element types: `<f4`, `<f8`, `<i8`, `<i4`, `|u1` (and `|i1`, `|b1` read as bytes).
/// Big-endian data and Fortran order are refused with an error that says how to convert the
/// file in numpy.
public enum NPYDType: String, Sendable {
    case float32 = "<f4"
    case float64 = "<f8"
    case int64 = "<i8"
    case int32 = "<i4"
    case uint8 = "|u1"
    case int8 = "|i1"
    case bool = "|b1"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        case .uint8, .int8, .bool: return 1
        }
    }
}

/// A decoded `.npy` array: dtype, shape and the raw little-endian element bytes.
public struct NPYArray: Sendable {
    public var dtype: NPYDType
    public var shape: [Int]
    public var bytes: [UInt8]
    /// Where the array came from (file path or archive member), for error messages.
    public var source: String

    public init(dtype: NPYDType, shape: [Int], bytes: [UInt8], source: String = "<memory>") {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.source = source
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Elements as Double (any numeric dtype).
    public func doubles() -> [Double] {
        let n = count
        return bytes.withUnsafeBytes { raw -> [Double] in
            var out = [Double](repeating: 0, count: n)
            for i in 0..<n {
                switch dtype {
                case .float32:
                    out[i] = Double(
                        Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian))
                case .float64:
                    out[i] = Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian)
                case .int64:
                    out[i] = Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
                case .int32:
                    out[i] = Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
                case .uint8, .bool: out[i] = Double(raw[i])
                case .int8: out[i] = Double(Int8(bitPattern: raw[i]))
                }
            }
            return out
        }
    }

    /// Elements as Float. float32 data is returned bit-exactly; other numeric types are converted.
    public func floats() -> [Float] {
        if dtype == .float32 {
            let n = count
            return bytes.withUnsafeBytes { raw in
                (0..<n).map {
                    Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian)
                }
            }
        }
        return doubles().map { Float($0) }
    }

    /// Elements as Int64; refuses floating-point arrays (labels must be integers).
    public func int64s() throws -> [Int64] {
        switch dtype {
        case .float32, .float64:
            throw FlowError(
                "\(source): expected an integer array (<i8), got \(dtype.rawValue); save it with arr.astype(np.int64)")
        case .int64:
            // Read directly: through Double, Int64.max rounds to 2^63, which does not convert back.
            let n = count
            return bytes.withUnsafeBytes { raw in
                (0..<n).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
            }
        default:
            return doubles().map { Int64($0) }
        }
    }

    /// The array as a float32 `Tensor` (any numeric dtype converted).
    public func tensor() -> Tensor { Tensor(shape: shape, data: floats()) }
}

public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Reads a `.npy` file.
    public static func read(_ path: String) throws -> NPYArray {
        try decode(try FileIO.read(path), source: path)
    }

    /// Reads a float32 tensor from a `.npy` file, converting other numeric dtypes.
    public static func readTensor(_ path: String) throws -> Tensor { try read(path).tensor() }

    /// Decodes `.npy` bytes; `source` names the input in errors.
    public static func decode(_ b: [UInt8], source: String) throws -> NPYArray {
        guard b.count >= 10, Array(b[0..<6]) == magic else {
            throw FlowError("\(source): not a .npy file (bad magic); write it with numpy.save")
        }
        let major = b[6]
        let headerLen: Int
        let start: Int
        switch major {
        case 1:
            headerLen = Int(b[8]) | Int(b[9]) << 8
            start = 10
        case 2, 3:
            guard b.count >= 12 else { throw FlowError("\(source): truncated .npy header") }
            headerLen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24
            start = 12
        default: throw FlowError("\(source): unsupported .npy format version \(major); save with numpy.save")
        }
        guard headerLen <= 1 << 20, start + headerLen <= b.count else {
            throw FlowError("\(source): truncated or oversized .npy header (\(headerLen) bytes)")
        }
        guard let header = String(bytes: b[start..<(start + headerLen)], encoding: .utf8) else {
            throw FlowError("\(source): .npy header is not text")
        }
        let (descr, fortran, shape) = try parseHeader(header, source: source)
        if fortran {
            throw FlowError("\(source): Fortran-order arrays are not supported; save np.ascontiguousarray(arr)")
        }
        let normalized = descr == "<u1" ? "|u1" : descr == "<i1" ? "|i1" : descr == "<b1" ? "|b1" : descr
        guard let dtype = NPYDType(rawValue: normalized) else {
            throw FlowError(
                "\(source): dtype \(descr) is not supported; use little-endian <f4, <f8, <i8, <i4 or |u1 (arr.astype('<f4'))"
            )
        }
        var count = 1
        for d in shape {
            guard d >= 0 else { throw FlowError("\(source): negative dimension in shape \(shape)") }
            let (m, o) = count.multipliedReportingOverflow(by: d)
            guard !o, m <= Int(Int32.max) * 8 else { throw FlowError("\(source): shape \(shape) is too large") }
            count = m
        }
        let dataStart = start + headerLen
        let need = count * dtype.size
        guard b.count - dataStart >= need else {
            throw FlowError(
                "\(source): truncated .npy data: shape \(shape) needs \(need) bytes, file has \(b.count - dataStart)")
        }
        return NPYArray(dtype: dtype, shape: shape, bytes: Array(b[dataStart..<(dataStart + need)]), source: source)
    }

    /// Parses the Python-literal header dict: descr, fortran_order, shape.
    static func parseHeader(_ h: String, source: String) throws -> (String, Bool, [Int]) {
        func value(of key: String) -> Substring? {
            guard let r = h.range(of: "'\(key)'") ?? h.range(of: "\"\(key)\"") else { return nil }
            var rest = h[r.upperBound...]
            guard let colon = rest.firstIndex(of: ":") else { return nil }
            rest = rest[rest.index(after: colon)...].drop(while: { $0 == " " })
            return rest
        }
        guard let d = value(of: "descr"), let q = d.first, q == "'" || q == "\"" else {
            throw FlowError("\(source): .npy header has no descr")
        }
        let afterQ = d.dropFirst()
        guard let endQ = afterQ.firstIndex(of: q) else { throw FlowError("\(source): malformed descr in .npy header") }
        let descr = String(afterQ[..<endQ])
        guard let f = value(of: "fortran_order") else { throw FlowError("\(source): .npy header has no fortran_order") }
        let fortran = f.hasPrefix("True")
        guard let s = value(of: "shape"), s.first == "(", let close = s.firstIndex(of: ")") else {
            throw FlowError("\(source): .npy header has no shape")
        }
        let inner = s[s.index(after: s.startIndex)..<close]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: " L")
            if t.isEmpty { continue }
            guard let v = Int(t) else { throw FlowError("\(source): malformed shape in .npy header") }
            shape.append(v)
        }
        return (descr, fortran, shape)
    }

    /// Encodes raw little-endian element bytes as `.npy` (version 1.0, or 2.0 for huge headers).
    public static func encode(dtype: NPYDType, shape: [Int], body: UnsafeRawBufferPointer) -> [UInt8] {
        let shapeStr = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeStr), }"
        let pre = 10
        let total = pre + header.utf8.count + 1
        let pad = (64 - total % 64) % 64
        header += String(repeating: " ", count: pad) + "\n"
        var out = magic + [1, 0]
        let hl = header.utf8.count
        out += [UInt8(hl & 0xff), UInt8(hl >> 8)]
        out += Array(header.utf8)
        out += Array(body)
        return out
    }

    /// Encodes a float32 tensor.
    public static func encode(_ t: Tensor) -> [UInt8] {
        t.data.withUnsafeBytes { encode(dtype: .float32, shape: t.shape, body: $0) }
    }

    /// Writes a float32 tensor atomically.
    public static func write(_ t: Tensor, to path: String, durable: Bool = false) throws {
        try FileIO.writeAtomically(path, encode(t), durable: durable)
    }

    /// Writes an int64 array atomically.
    public static func write(int64 values: [Int64], shape: [Int], to path: String, durable: Bool = false) throws {
        let bytes = values.withUnsafeBytes { encode(dtype: .int64, shape: shape, body: $0) }
        try FileIO.writeAtomically(path, bytes, durable: durable)
    }

    /// Writes a float64 array atomically.
    public static func write(float64 values: [Double], shape: [Int], to path: String, durable: Bool = false) throws {
        let bytes = values.withUnsafeBytes { encode(dtype: .float64, shape: shape, body: $0) }
        try FileIO.writeAtomically(path, bytes, durable: durable)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
