/// CRC-32 (IEEE 802.3, the zlib/PNG polynomial) for journal records and shard files.
///
/// Plain table-driven implementation; `CRC32.hex(bytes)` is the 8-digit lowercase form stored in
/// the journal and `manifest.json`.
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 of `bytes`, continuing from `crc` (start with 0).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    /// CRC-32 of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }

    /// CRC-32 as 8 lowercase hex digits.
    public static func hex(_ bytes: [UInt8]) -> String { hex(checksum(bytes)) }

    /// Formats a CRC as 8 lowercase hex digits.
    public static func hex(_ crc: UInt32) -> String {
        let s = String(crc, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}
