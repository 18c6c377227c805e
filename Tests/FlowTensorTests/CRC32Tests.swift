import FlowTensor
import XCTest

/// CRC-32 from zlib against the standard check values and a bitwise reference written here.
final class CRC32Tests: XCTestCase {
    /// The polynomial division bit by bit (reflected 0xEDB88320), no table: the definition.
    func bitwise(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    func testCheckValues() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)), 0x414F_A339)
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32.hex([]), "00000000")
        XCTAssertEqual(CRC32.hex(0x00AB_CDEF), "00abcdef")
    }

    func testMatchesBitwiseReferenceWholeAndIncremental() {
        var rng = SplitMix64(seed: 11)
        for n in [1, 7, 64, 1000, 4099] {
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let want = bitwise(bytes)
            XCTAssertEqual(CRC32.checksum(bytes), want, "n = \(n)")
            XCTAssertEqual(CRC32.checksum(bytes[1...]), bitwise(Array(bytes[1...])), "slice, n = \(n)")
            let cut = n / 3
            let head = bytes[..<cut].withUnsafeBytes { CRC32.checksum($0) }
            let whole = bytes[cut...].withUnsafeBytes { CRC32.checksum($0, crc: head) }
            XCTAssertEqual(whole, want, "incremental, n = \(n)")
        }
    }
}
