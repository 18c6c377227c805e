import CZlib
import Foundation
import XCTest

@testable import FlowTensor

/// IDX tests on tiny files built here (plain and gzipped with zlib's gz* API).
final class IDXTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "idx-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func idx(_ dims: [Int], _ payload: [UInt8], type: UInt8 = 8) -> [UInt8] {
        var b: [UInt8] = [0, 0, type, UInt8(dims.count)]
        for d in dims { b += [UInt8(d >> 24 & 0xff), UInt8(d >> 16 & 0xff), UInt8(d >> 8 & 0xff), UInt8(d & 0xff)] }
        return b + payload
    }

    func write(_ name: String, _ bytes: [UInt8], gzip: Bool) -> String {
        let path = dir + "/" + name
        if gzip {
            let f = gzopen(path, "wb")!
            _ = bytes.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32($0.count)) }
            gzclose(f)
        } else {
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
        }
        return path
    }

    func testImagesAndLabelsPlainAndGzip() throws {
        let pixels = (0..<(3 * 4 * 5)).map { UInt8($0 * 3 & 0xff) }
        for gz in [false, true] {
            let ip = write("img\(gz)", idx([3, 4, 5], pixels), gzip: gz)
            let r = try IDX.readImages(ip)
            XCTAssertEqual(r.count, 3)
            XCTAssertEqual(r.rows, 4)
            XCTAssertEqual(r.cols, 5)
            XCTAssertEqual(r.pixels, pixels)
            let lp = write("lab\(gz)", idx([3], [7, 0, 9]), gzip: gz)
            XCTAssertEqual(try IDX.readLabels(lp), [7, 0, 9])
        }
    }

    func testBadFilesGiveClearErrors() throws {
        let swapped = write("swap", idx([3], [1, 2, 3]), gzip: false)
        XCTAssertThrowsError(try IDX.readImages(swapped)) { XCTAssertTrue("\($0)".contains("dimensions"), "\($0)") }
        let short = write("short", idx([2, 2, 2], [1, 2, 3]), gzip: true)
        XCTAssertThrowsError(try IDX.readImages(short)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
        let floaty = write("float", idx([1], [0, 0, 0, 0], type: 0x0D), gzip: false)
        XCTAssertThrowsError(try IDX.readLabels(floaty))
        let junk = write("junk", [0x50, 0x4B, 3, 4, 5], gzip: false)
        XCTAssertThrowsError(try IDX.readLabels(junk)) { XCTAssertTrue("\($0)".contains("magic"), "\($0)") }
        var gzbytes = try FileIO.read(write("gz", idx([4], [1, 2, 3, 4]), gzip: true))
        gzbytes.removeLast(6)
        let cut = write("cut", gzbytes, gzip: false)
        XCTAssertThrowsError(try IDX.readLabels(cut))
        XCTAssertThrowsError(try IDX.readLabels(dir + "/missing"))
    }
}
