import Foundation
import XCTest

@testable import FlowTensor

/// Unchecked numbers in files and flags: safetensors offsets, int64 labels, the `Validate` checks.
final class ValidationTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "val-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A safetensors file built by hand: 8-byte length, header JSON, body.
    func handMade(_ header: String, body: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        var len = UInt64(h.count).littleEndian
        return withUnsafeBytes(of: &len) { Array($0) } + h + body
    }

    func testOverlappingAndFractionalOffsetsAreRefused() throws {
        let body = [UInt8](repeating: 0, count: 16)
        let overlap =
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        XCTAssertThrowsError(try SafeTensors.parse(handMade(overlap, body: body), path: "o.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("overlap"), "\(e)")
        }
        let fractional = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0.5,8.5]}}"#
        XCTAssertThrowsError(try SafeTensors.parse(handMade(fractional, body: body), path: "f.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("data_offsets"), "\(e)")
        }
        let fractionalShape = #"{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#
        XCTAssertThrowsError(try SafeTensors.parse(handMade(fractionalShape, body: body), path: "s.safetensors"))
        // Negative control: adjacent, non-overlapping tensors load.
        let fine =
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        XCTAssertEqual(try SafeTensors.parse(handMade(fine, body: body), path: "ok.safetensors").names, ["a", "b"])
    }

    func testInt64ExtremesReadExactly() throws {
        let values: [Int64] = [.max, .min, 0, -1, 1 << 53 + 1]
        let bytes = values.map { $0.littleEndian }.withUnsafeBytes {
            NPY.encode(
                dtype: .int64,
                shape: [values.count], body: $0)
        }
        XCTAssertEqual(try NPY.decode(bytes, source: "y.npy").int64s(), values)
    }

    func testValidateRefusesOutOfRangeWithOneLine() {
        let cases: [() throws -> Void] = [
            { try Validate.count(0, "--n", 1...10) },
            { try Validate.count(Int.max, "--n", 1...10) },
            { try Validate.seconds(.nan, "--t", 0...10) },
            { try Validate.seconds(.infinity, "--t", 0...10) },
            { try Validate.seconds(1e308, "--t", 0...10) },
            { try Validate.finite(Float.nan, "--cfg", -1...1) },
            { try Validate.fitsInMemory([Int.max / 2, 4], bytesPerElement: 4, "x") },
            { try Validate.fitsInMemory([Bounds.memoryBytes / 4 + 1], bytesPerElement: 4, "x") },
        ]
        for (i, c) in cases.enumerated() {
            XCTAssertThrowsError(try c(), "case \(i)") { e in XCTAssertFalse("\(e)".contains("\n"), "\(e)") }
        }
        XCTAssertNoThrow(try Validate.count(10, "--n", 1...10))
        XCTAssertNoThrow(try Validate.seconds(0.5, "--t", 0...10))
        XCTAssertNoThrow(try Validate.fitsInMemory([1024, 1024], bytesPerElement: 4, "x"))
        XCTAssertNil(Validate.product([1 << 32, 1 << 32]))
        XCTAssertEqual(Validate.product([3, 5, 7]), 105)
    }
}
