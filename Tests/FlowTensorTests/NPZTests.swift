import Foundation
import XCTest

@testable import FlowTensor

/// NPZ tests against archives written by numpy 2.x (embedded below), plus round trips checked
/// by python3's zipfile/numpy when available.
final class NPZTests: XCTestCase {
    // np.savez(b, mu=np.array([1.5,-2.0,3.25]), sigma=np.array([[2,.5],[.5,1]], np.float32), labels=np.arange(5))
    static let savez =
        "UEsDBC0AAAAAAAAAIQDrDS8H//////////8GABQAbXUubnB5AQAQAJgAAAAAAAAAmAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICc8ZjgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCgAAAAAAAPg/AAAAAAAAAMAAAAAAAAAKQFBLAwQtAAAAAAAAACEAxqCt8P//////////CQAUAHNpZ21hLm5weQEAEACQAAAAAAAAAJAAAAAAAAAAk05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAABAAAAAPwAAAD8AAIA/UEsDBC0AAAAAAAAAIQDLd52p//////////8KABQAbGFiZWxzLm5weQEAEACoAAAAAAAAAKgAAAAAAAAAk05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDUsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAEAAAAAAAAAAgAAAAAAAAADAAAAAAAAAAQAAAAAAAAAUEsBAi0DLQAAAAAAAAAhAOsNLweYAAAAmAAAAAYAAAAAAAAAAAAAAIABAAAAAG11Lm5weVBLAQItAy0AAAAAAAAAIQDGoK3wkAAAAJAAAAAJAAAAAAAAAAAAAACAAdAAAABzaWdtYS5ucHlQSwECLQMtAAAAAAAAACEAy3edqagAAACoAAAACgAAAAAAAAAAAAAAgAGbAQAAbGFiZWxzLm5weVBLBQYAAAAAAwADAKMAAAB/AgAAAAA="
    // Same arrays with np.savez_compressed.
    static let savezCompressed =
        "UEsDBC0AAAAIAAAAIQDrDS8H//////////8GABQAbXUubnB5AQAQAJgAAAAAAAAAUAAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2ahrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RrGOpo6CrUKFAAuBjD4YQ+hGQ5AKC4HAFBLAwQtAAAACAAAACEAxqCt8P//////////CQAUAHNpZ21hLm5weQEAEACQAAAAAAAAAFAAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNmoq6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjoKRpo6CrUKZAMuBgYGByC2h+AGewBQSwMELQAAAAgAAAAhAMt3nan//////////woAFABsYWJlbHMubnB5AQAQAKgAAAAAAAAAUQAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2mhrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RqmOpo6CrUKFAAuBihghNJMUJoZSrNAaQBQSwECLQMtAAAACAAAACEA6w0vB1AAAACYAAAABgAAAAAAAAAAAAAAgAEAAAAAbXUubnB5UEsBAi0DLQAAAAgAAAAhAMagrfBQAAAAkAAAAAkAAAAAAAAAAAAAAIABiAAAAHNpZ21hLm5weVBLAQItAy0AAAAIAAAAIQDLd52pUQAAAKgAAAAKAAAAAAAAAAAAAACAARMBAABsYWJlbHMubnB5UEsFBgAAAAADAAMAowAAAKABAAAAAA=="

    func checkNumpyArchive(_ b64: String) throws {
        let bytes = [UInt8](Data(base64Encoded: b64)!)
        let a = try NPZ.decode(bytes, source: "fixture")
        XCTAssertEqual(Set(a.keys), ["mu", "sigma", "labels"])
        XCTAssertEqual(a["mu"]!.dtype, .float64)
        XCTAssertEqual(a["mu"]!.doubles(), [1.5, -2.0, 3.25])
        XCTAssertEqual(a["sigma"]!.dtype, .float32)
        XCTAssertEqual(a["sigma"]!.shape, [2, 2])
        XCTAssertEqual(a["sigma"]!.floats(), [2, 0.5, 0.5, 1])
        XCTAssertEqual(try a["labels"]!.int64s(), [0, 1, 2, 3, 4])
    }

    func testReadsNumpySavez() throws { try checkNumpyArchive(Self.savez) }
    func testReadsNumpySavezCompressed() throws { try checkNumpyArchive(Self.savezCompressed) }

    func testCorruptionIsReported() throws {
        var bytes = [UInt8](Data(base64Encoded: Self.savez)!)
        // Flip a byte inside the first member's data (after its local header + name + zip64 extra).
        bytes[120] ^= 0xFF
        XCTAssertThrowsError(try NPZ.decode(bytes, source: "x")) { e in
            XCTAssertTrue("\(e)".contains("x"), "\(e)")
        }
        let truncated = Array([UInt8](Data(base64Encoded: Self.savez)!).prefix(200))
        XCTAssertThrowsError(try NPZ.decode(truncated, source: "t"))
        XCTAssertThrowsError(try NPZ.decode([1, 2, 3], source: "junk"))
        var comp = [UInt8](Data(base64Encoded: Self.savezCompressed)!)
        comp[100] ^= 0x55
        XCTAssertThrowsError(try NPZ.decode(comp, source: "c"))
    }

    func testWriteRoundTripAndPythonReads() throws {
        let mu: [Double] = [0.1, -1e300, 42]
        let mb = mu.withUnsafeBytes { [UInt8]($0) }
        let lab: [Int64] = [7, 8]
        let lb = lab.withUnsafeBytes { [UInt8]($0) }
        let arrays: [(name: String, array: NPYArray)] = [
            ("mu", NPYArray(dtype: .float64, shape: [3], bytes: mb)),
            ("labels", NPYArray(dtype: .int64, shape: [2, 1], bytes: lb)),
        ]
        let path = NSTemporaryDirectory() + "npz-test-\(getpid()).npz"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NPZ.write(path, arrays: arrays)
        let back = try NPZ.read(path)
        XCTAssertEqual(back["mu"]!.doubles(), mu)
        XCTAssertEqual(back["labels"]!.shape, [2, 1])
        XCTAssertEqual(try back["labels"]!.int64s(), lab)
        XCTAssertThrowsError(try NPZ.encode(arrays: [arrays[0], arrays[0]]))

        // Independent reader: python's zipfile (CRC check via testzip) + numpy.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", "-c",
            """
            import sys, zipfile, numpy as np
            assert zipfile.ZipFile(sys.argv[1]).testzip() is None
            d = np.load(sys.argv[1])
            assert d['mu'].tolist() == [0.1, -1e300, 42.0], d['mu']
            assert d['labels'].shape == (2, 1) and d['labels'].ravel().tolist() == [7, 8]
            """, path,
        ]
        do { try p.run() } catch { throw XCTSkip("python3 not available") }
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            // numpy missing gives status 1 as well; distinguish by checking numpy importability.
            let q = Process()
            q.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            q.arguments = ["python3", "-c", "import numpy"]
            try q.run()
            q.waitUntilExit()
            if q.terminationStatus != 0 { throw XCTSkip("numpy not available") }
            XCTFail("python/numpy could not read the .npz we wrote")
        }
    }
}
