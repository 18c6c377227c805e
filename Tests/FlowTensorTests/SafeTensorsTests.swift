import Foundation
import XCTest

@testable import FlowTensor

final class SafeTensorsTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "st-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Builds a safetensors file by hand (independently of the writer): header JSON + raw bytes.
    func handMade(_ header: String, body: [UInt8], lengthOverride: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        var len = (lengthOverride ?? UInt64(h.count)).littleEndian
        return withUnsafeBytes(of: &len) { Array($0) } + h + body
    }

    func expectError(_ bytes: [UInt8], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        let path = dir + "/bad.safetensors"
        try! FileIO.writeAtomically(path, bytes)
        XCTAssertThrowsError(try SafeTensors.load(path).tensor("a"), file: file, line: line) { e in
            let s = "\(e)"
            XCTAssertFalse(s.contains("\n"), "one line: \(s)", file: file, line: line)
            XCTAssertTrue(s.contains("bad.safetensors"), s, file: file, line: line)
            for f in fragments { XCTAssertTrue(s.contains(f), "expected '\(f)' in: \(s)", file: file, line: line) }
        }
    }

    func testRoundTripWithMetadata() throws {
        let a = Tensor(shape: [2, 3], data: [1, -2, 3.5, 0, .greatestFiniteMagnitude, -0.0])
        let b = Tensor(shape: [4], data: [9, 8, 7, 6])
        let path = dir + "/rt.safetensors"
        try SafeTensors.write(path, tensors: [("b", b), ("a", a)], metadata: ["k": "v", "json": "{\"x\":1}"])
        let f = try SafeTensors.load(path)
        XCTAssertEqual(f.names, ["a", "b"])
        XCTAssertEqual(f.metadata, ["k": "v", "json": "{\"x\":1}"])
        XCTAssertEqual(try f.tensor("a"), a)
        XCTAssertEqual(try f.tensor("b", shape: [4]), b)
        // Header length is a multiple of 8 and data follows it, as the format requires.
        let raw = try FileIO.read(path)
        let n = raw[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(n % 8, 0)
        XCTAssertEqual(raw.count, 8 + n + 40)
    }

    func testF16AndBF16AreConvertedExactly() throws {
        // f16: 1.0 = 0x3C00, -2.5 = 0xC100, smallest subnormal 2^-24 = 0x0001, inf = 0x7C00
        // bf16: 1.0 = 0x3F80, -3.0 = 0xC040
        let f16: [UInt16] = [0x3C00, 0xC100, 0x0001, 0x7C00]
        let bf16: [UInt16] = [0x3F80, 0xC040]
        let body = (f16 + bf16).flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
        let header =
            #"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"g":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}"#
        let path = dir + "/half.safetensors"
        try FileIO.writeAtomically(path, handMade(header, body: body))
        let f = try SafeTensors.load(path)
        XCTAssertEqual(try f.tensor("h").data, [1, -2.5, Float(pow(2.0, -24.0)), .infinity])
        XCTAssertEqual(try f.tensor("g").data, [1, -3])
    }

    func testEveryBadFileCaseIsAOneLineErrorNamingFileAndTensor() {
        let ok = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let body = [UInt8](repeating: 0, count: 8)
        expectError([1, 2, 3], ["truncated"])  // shorter than the length field
        expectError(handMade("{not json", body: body), ["corrupt", "JSON"])  // corrupt header
        expectError(handMade(ok, body: body, lengthOverride: 4096), ["truncated"])  // header longer than file
        expectError(handMade(ok, body: body, lengthOverride: 1 << 40), ["exceeds"])  // oversized header
        expectError(
            handMade(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, body: body), ["'a'", "outside"])
        expectError(handMade(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, body: body), ["'a'", "shape"])
        expectError(handMade(#"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, body: body), ["'a'", "I64"])
        expectError(
            handMade(#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, body: body), ["missing tensor 'a'"])
        expectError(handMade(#"{"a":{"dtype":"F32","shape":[2]}}"#, body: body), ["'a'", "malformed"])
    }

    func testWrongShapeIsNamed() throws {
        let path = dir + "/s.safetensors"
        try SafeTensors.write(path, tensors: [("w", Tensor(zeros: [2, 3]))], metadata: [:])
        XCTAssertThrowsError(try SafeTensors.load(path).tensor("w", shape: [3, 2])) { e in
            XCTAssertTrue(
                "\(e)".contains("'w'") && "\(e)".contains("[2, 3]") && "\(e)".contains("s.safetensors"), "\(e)")
        }
    }

    func testNPYRoundTripAndRefusals() throws {
        let t = Tensor(shape: [2, 1, 3], data: [1, 2, 3, 4, 5, 6])
        let path = dir + "/x.npy"
        try NPY.write(t, to: path)
        XCTAssertEqual(try NPY.readTensor(path), t)
        try NPY.write(int64: [3, -1, 7], shape: [3], to: dir + "/y.npy")
        let y = try NPY.read(dir + "/y.npy")
        XCTAssertEqual(y.dtype, .int64)
        XCTAssertEqual(y.shape, [3])
        XCTAssertEqual(try y.int64s(), [3, -1, 7])
        // Header is 64-byte aligned, as numpy writes it.
        let raw = try FileIO.read(path)
        XCTAssertEqual((10 + Int(raw[8]) + Int(raw[9]) << 8) % 64, 0)
        // Big-endian and Fortran order are refused with the fix in the message.
        func npy(_ header: String, _ body: [UInt8]) -> [UInt8] {
            var h = Array(header.utf8)
            while (10 + h.count + 1) % 64 != 0 { h.append(0x20) }
            h.append(0x0a)
            return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(h.count & 0xff), UInt8(h.count >> 8)] + h + body
        }
        XCTAssertThrowsError(
            try NPY.decode(
                npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0]), source: "be.npy")
        ) {
            XCTAssertTrue("\($0)".contains(">f4") && "\($0)".contains("astype"), "\($0)")
        }
        XCTAssertThrowsError(
            try NPY.decode(
                npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", [0, 0, 0, 0]), source: "f.npy")
        ) {
            XCTAssertTrue("\($0)".contains("Fortran"), "\($0)")
        }
        XCTAssertThrowsError(
            try NPY.decode(
                npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", [0, 0, 0, 0]), source: "t.npy")
        ) {
            XCTAssertTrue("\($0)".contains("truncated"), "\($0)")
        }
        XCTAssertThrowsError(try NPY.read(path).int64s())  // float data refused as labels
        XCTAssertThrowsError(try NPY.decode([1, 2, 3], source: "junk.npy"))
    }
}
