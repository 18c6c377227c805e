/// NumPy `.npz` archives: read what `np.savez` / `np.savez_compressed` write, write stored zips.
///
/// Reading walks the zip central directory (sizes, CRC, method), then each local header; members
/// may be stored (method 0) or deflated (method 8) and every CRC-32 is checked. numpy forces zip64
/// *local* extras (sizes 0xFFFFFFFF) even for small members; those are fine because sizes come from
/// the central directory. Real zip64 archives (> 4 GiB, > 65535 members) are refused with an error.
/// Member names `x.npy` become key `x`.
public enum NPZ {
    /// Reads every `.npy` member of an `.npz` file, keyed by name without the `.npy` suffix.
    public static func read(_ path: String) throws -> [String: NPYArray] {
        try decode(try FileIO.read(path), source: path)
    }

    /// Decodes `.npz` bytes; `source` names the input in errors.
    public static func decode(_ b: [UInt8], source: String) throws -> [String: NPYArray] {
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        guard b.count >= 22, u32(0) == 0x0403_4B50 || u32(0) == 0x0605_4B50 else {
            throw FlowError("\(source): not an .npz (zip) file; write it with numpy.savez")
        }
        // End of central directory: last 22+comment bytes.
        var eocd = -1
        var o = b.count - 22
        let lowest = Swift.max(0, b.count - 22 - 65535)
        while o >= lowest {
            if u32(o) == 0x0605_4B50 {
                eocd = o
                break
            }
            o -= 1
        }
        guard eocd >= 0 else {
            throw FlowError("\(source): zip end record not found (truncated .npz?); re-create it with numpy.savez")
        }
        let entries = u16(eocd + 10)
        let cdSize = u32(eocd + 12)
        let cdOffset = u32(eocd + 16)
        if entries == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            throw FlowError(
                "\(source): zip64 archives (> 4 GiB or > 65535 arrays) are not supported; split the arrays into smaller .npz files"
            )
        }
        guard cdOffset + cdSize <= eocd else {
            throw FlowError("\(source): zip central directory out of bounds (truncated .npz?)")
        }
        var result: [String: NPYArray] = [:]
        var p = cdOffset
        for _ in 0..<entries {
            guard p + 46 <= b.count, u32(p) == 0x0201_4B50 else {
                throw FlowError("\(source): corrupt zip central directory; re-create the file with numpy.savez")
            }
            let flags = u16(p + 8)
            let method = u16(p + 10)
            let crc = UInt32(u32(p + 16))
            let csize = u32(p + 20)
            let usize = u32(p + 24)
            let nameLen = u16(p + 28)
            let extraLen = u16(p + 30)
            let commentLen = u16(p + 32)
            let local = u32(p + 42)
            guard p + 46 + nameLen <= b.count else { throw FlowError("\(source): corrupt zip central directory") }
            let name = String(decoding: b[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
            p += 46 + nameLen + extraLen + commentLen
            if csize == 0xFFFF_FFFF || usize == 0xFFFF_FFFF || local == 0xFFFF_FFFF {
                throw FlowError(
                    "\(source): member \(name) needs zip64 (> 4 GiB), which is not supported; save smaller arrays")
            }
            if flags & 1 != 0 { throw FlowError("\(source): member \(name) is encrypted; save it without a password") }
            guard local + 30 <= b.count, u32(local) == 0x0403_4B50 else {
                throw FlowError("\(source): member \(name) has a bad local header offset (corrupt .npz)")
            }
            let dataStart = local + 30 + u16(local + 26) + u16(local + 28)
            guard dataStart + csize <= b.count else {
                throw FlowError("\(source): member \(name) is truncated (needs \(csize) bytes); re-create the file")
            }
            let raw = b[dataStart..<(dataStart + csize)]
            let data: [UInt8]
            switch method {
            case 0:
                guard csize == usize else { throw FlowError("\(source): stored member \(name) has inconsistent sizes") }
                data = Array(raw)
            case 8:
                data = try Inflate.inflate(raw, windowBits: -15, expected: usize, source: "\(source):\(name)")
            default:
                throw FlowError(
                    "\(source): member \(name) uses zip compression method \(method); only stored and deflate (np.savez, np.savez_compressed) are supported"
                )
            }
            let actual = CRC32.checksum(data)
            guard actual == crc else {
                throw FlowError("\(source): member \(name) fails its CRC-32 check (corrupt .npz); re-create the file")
            }
            if name.hasSuffix("/") { continue }
            let key = name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
            result[key] = try NPY.decode(data, source: "\(source):\(name)")
        }
        return result
    }

    /// Encodes arrays as a stored (uncompressed) zip with `name.npy` members, as `np.savez` does.
    public static func encode(arrays: [(name: String, array: NPYArray)]) throws -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func le16(_ b: inout [UInt8], _ v: Int) { b += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff)] }
        func le32(_ b: inout [UInt8], _ v: Int) {
            le16(&b, v & 0xffff)
            le16(&b, (v >> 16) & 0xffff)
        }
        var seen = Set<String>()
        guard arrays.count < 0xFFFF else {
            throw FlowError("NPZ.encode: \(arrays.count) arrays exceed the non-zip64 limit of 65534")
        }
        for (name, array) in arrays {
            guard !name.isEmpty, seen.insert(name).inserted else {
                throw FlowError("NPZ.encode: array name '\(name)' is empty or repeated; names must be unique")
            }
            guard array.bytes.count == array.count * array.dtype.size else {
                throw FlowError(
                    "NPZ.encode: array \(name) has \(array.bytes.count) bytes for shape \(array.shape) \(array.dtype.rawValue)"
                )
            }
            let body = array.bytes.withUnsafeBytes { NPY.encode(dtype: array.dtype, shape: array.shape, body: $0) }
            let fname = Array((name + ".npy").utf8)
            let crc = Int(CRC32.checksum(body))
            let offset = out.count
            guard offset + body.count + 30 + fname.count < 0xFFFF_FFFF else {
                throw FlowError(
                    "NPZ.encode: archive would exceed 4 GiB (zip64 not supported); write fewer or smaller arrays")
            }
            // Local header.
            le32(&out, 0x0403_4B50)
            le16(&out, 20)
            le16(&out, 0)
            le16(&out, 0)
            le16(&out, 0)
            le16(&out, 0x21)  // time 00:00:00, date 1980-01-01
            le32(&out, crc)
            le32(&out, body.count)
            le32(&out, body.count)
            le16(&out, fname.count)
            le16(&out, 0)
            out += fname
            out += body
            // Central directory entry.
            le32(&central, 0x0201_4B50)
            le16(&central, 20)
            le16(&central, 20)
            le16(&central, 0)
            le16(&central, 0)
            le16(&central, 0)
            le16(&central, 0x21)
            le32(&central, crc)
            le32(&central, body.count)
            le32(&central, body.count)
            le16(&central, fname.count)
            le16(&central, 0)
            le16(&central, 0)
            le16(&central, 0)
            le16(&central, 0)
            le32(&central, 0o100644 << 16)
            le32(&central, offset)
            central += fname
        }
        let cdOffset = out.count
        out += central
        le32(&out, 0x0605_4B50)
        le16(&out, 0)
        le16(&out, 0)
        le16(&out, arrays.count)
        le16(&out, arrays.count)
        le32(&out, central.count)
        le32(&out, cdOffset)
        le16(&out, 0)
        return out
    }

    /// Writes arrays as an `.npz` (stored members, CRC-32) atomically; `durable` fsyncs it.
    public static func write(_ path: String, arrays: [(name: String, array: NPYArray)], durable: Bool = false) throws {
        try FileIO.writeAtomically(path, try encode(arrays: arrays), durable: durable)
    }
}
