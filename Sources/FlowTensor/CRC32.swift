import CZlib

/// CRC-32 (IEEE 802.3, the zlib/PNG/zip polynomial) from zlib: journal records, shard files, PNG chunks, .npz
/// members. `CRC32.hex(bytes)` is the 8-digit lowercase form stored in the journal and `manifest.json`.
public enum CRC32 {
    /// CRC-32 of `bytes`, continuing from `crc` (start with 0).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, crc: UInt32 = 0) -> UInt32 {
        var c = uLong(crc)
        guard var p = bytes.baseAddress?.assumingMemoryBound(to: Bytef.self) else { return crc }
        var left = bytes.count
        while left > 0 {  // zlib takes 32-bit lengths
            let n = min(left, 1 << 30)
            c = crc32(c, p, uInt(n))
            p += n
            left -= n
        }
        return UInt32(truncatingIfNeeded: c)
    }

    /// CRC-32 of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }

    /// CRC-32 of a byte range.
    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }

    /// CRC-32 as 8 lowercase hex digits.
    public static func hex(_ bytes: [UInt8]) -> String { hex(checksum(bytes)) }

    /// Formats a CRC as 8 lowercase hex digits.
    public static func hex(_ crc: UInt32) -> String {
        let s = String(crc, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}
