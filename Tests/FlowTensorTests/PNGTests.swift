import Foundation
import XCTest

@testable import FlowTensor

/// PNG tests: decode our own output independently (chunk walk, bitwise CRC-32, python3 zlib when
/// available, else a check of the zlib header/adler) and compare to the source pixels.
final class PNGTests: XCTestCase {
    /// Bitwise CRC-32 (IEEE, reflected 0xEDB88320), independent of zlib.
    static func crc32Ref(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    static func be32(_ b: [UInt8], _ o: Int) -> Int {
        Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
    }

    /// Walks chunks, checks every CRC, returns (IHDR, concatenated IDAT).
    static func chunks(_ png: [UInt8]) throws -> (ihdr: [UInt8], idat: [UInt8], types: [String]) {
        XCTAssertEqual(Array(png[0..<8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var o = 8
        var ihdr: [UInt8] = []
        var idat: [UInt8] = []
        var types: [String] = []
        while o < png.count {
            let len = be32(png, o)
            let type = String(decoding: png[(o + 4)..<(o + 8)], as: UTF8.self)
            let data = Array(png[(o + 8)..<(o + 8 + len)])
            let crc = UInt32(be32(png, o + 8 + len))
            XCTAssertEqual(crc, crc32Ref(png[(o + 4)..<(o + 8 + len)]), "CRC of \(type)")
            types.append(type)
            if type == "IHDR" { ihdr = data }
            if type == "IDAT" { idat += data }
            o += 12 + len
        }
        return (ihdr, idat, types)
    }

    /// Inflates with python3's zlib (an independent implementation path) when available.
    static func pythonInflate(_ z: [UInt8]) -> [UInt8]? {
        let dir = NSTemporaryDirectory() + "png-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let inPath = dir + "/in.z"
        let outPath = dir + "/out.raw"
        FileManager.default.createFile(atPath: inPath, contents: Data(z))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", "-c",
            "import zlib,sys; open(sys.argv[2],'wb').write(zlib.decompress(open(sys.argv[1],'rb').read()))", inPath,
            outPath,
        ]
        do { try p.run() } catch { return nil }
        p.waitUntilExit()
        guard p.terminationStatus == 0, let d = FileManager.default.contents(atPath: outPath) else { return nil }
        return [UInt8](d)
    }

    func checkRoundTrip(width: Int, height: Int, channels: Int) throws {
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for i in 0..<pixels.count { pixels[i] = UInt8((i * 37 + i / 7) & 0xff) }
        let png = PNG.encode(width: width, height: height, channels: channels, pixels: pixels)
        let (ihdr, idat, types) = try Self.chunks(png)
        XCTAssertEqual(types, ["IHDR", "IDAT", "IEND"])
        XCTAssertEqual(Self.be32(ihdr, 0), width)
        XCTAssertEqual(Self.be32(ihdr, 4), height)
        XCTAssertEqual(ihdr[8], 8)
        XCTAssertEqual(ihdr[9], [1: 0, 2: 4, 3: 2, 4: 6][channels]!)
        XCTAssertEqual((Int(idat[0]) << 8 | Int(idat[1])) % 31, 0, "zlib header check bits")
        guard let raw = Self.pythonInflate(idat) else {
            throw XCTSkip("python3 not available to inflate independently")
        }
        let stride = width * channels
        XCTAssertEqual(raw.count, height * (stride + 1))
        var decoded: [UInt8] = []
        for y in 0..<height {
            let f = raw[y * (stride + 1)]
            XCTAssertEqual(f, 0, "filter type")
            decoded += raw[(y * (stride + 1) + 1)..<((y + 1) * (stride + 1))]
        }
        XCTAssertEqual(decoded, pixels)
    }

    func testGrayRoundTrip() throws { try checkRoundTrip(width: 13, height: 7, channels: 1) }
    func testRGBRoundTrip() throws { try checkRoundTrip(width: 5, height: 9, channels: 3) }
    func testRGBARoundTrip() throws { try checkRoundTrip(width: 1, height: 1, channels: 4) }

    func testGridLayoutAndClamping() throws {
        // 3 gray 2x2 images in 2 columns with padding 1: width 2*2+3 = 7, height 2*2+3 = 7.
        var data = [Float](repeating: 0, count: 3 * 4)
        data[0] = -1
        data[1] = 1
        data[2] = 5
        data[3] = -7  // image 0: clamped
        for k in 4..<8 { data[k] = 0 }  // image 1: mid gray (128)
        for k in 8..<12 { data[k] = 0.5 }  // image 2: 191
        let g = try PNG.grid(Tensor(shape: [3, 1, 2, 2], data: data), columns: 2, padding: 1)
        XCTAssertEqual(g.width, 7)
        XCTAssertEqual(g.height, 7)
        XCTAssertEqual(g.channels, 1)
        func px(_ x: Int, _ y: Int) -> UInt8 { g.pixels[y * g.width + x] }
        XCTAssertEqual([px(1, 1), px(2, 1), px(1, 2), px(2, 2)], [0, 255, 255, 0])
        XCTAssertEqual(px(4, 1), UInt8((1.0 * 0.5 * 255).rounded()))
        XCTAssertEqual(px(1, 4), UInt8((1.5 * 0.5 * 255).rounded()))
        XCTAssertEqual(px(0, 0), 0)
        XCTAssertEqual(px(4, 4), 0)  // padding / empty tile
    }

    func testGridFourChannelsUsesFirstThree() throws {
        var data = [Float](repeating: 0, count: 4)
        data[0] = 1
        data[1] = -1
        data[2] = 0
        data[3] = 1
        let g = try PNG.grid(Tensor(shape: [1, 4, 1, 1], data: data), columns: 4, padding: 0)
        XCTAssertEqual(g.channels, 3)
        XCTAssertEqual(g.pixels, [255, 0, 128])
    }

    func testGridRejectsBadShapes() {
        XCTAssertThrowsError(try PNG.grid(Tensor(zeros: [2, 2, 4, 4]), columns: 2))
        XCTAssertThrowsError(try PNG.grid(Tensor(zeros: [4, 4]), columns: 2))
        XCTAssertThrowsError(try PNG.grid(Tensor(zeros: [1, 1, 4, 4]), columns: 0))
    }

    func testWriteRejectsSizeMismatch() {
        XCTAssertThrowsError(
            try PNG.write(path: NSTemporaryDirectory() + "x.png", width: 2, height: 2, channels: 1, pixels: [0]))
    }
}
