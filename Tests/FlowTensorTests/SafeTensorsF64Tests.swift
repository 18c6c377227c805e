import FlowTensor
import XCTest

/// F64 tensors (a state dict saved after `model.double()`) load, rounded to float32 like F16/BF16 are widened.
final class SafeTensorsF64Tests: XCTestCase {
    func testF64TensorLoadsAsNearestFloat32() throws {
        let values: [Double] = [1.0 / 3.0, -2.5e-8, 12345.678901234, 0]
        let json = #"{"w":{"dtype":"F64","shape":[2,2],"data_offsets":[0,32]}}"#
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
        bytes += header
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        let f = try SafeTensors.parse(bytes, path: "mem.safetensors")
        XCTAssertEqual(f.dtype("w"), .f64)
        let t = try f.tensor("w", shape: [2, 2])
        XCTAssertEqual(t.data, values.map { Float($0) })
        // a truncated F64 body is still refused with the tensor named
        XCTAssertThrowsError(try SafeTensors.parse(Array(bytes.dropLast(8)), path: "mem.safetensors"))
    }
}
