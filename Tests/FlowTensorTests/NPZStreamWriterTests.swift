import Foundation
import XCTest

@testable import FlowTensor

/// The streaming one-array `.npz` writer: byte-identical to `NPZ.encode` below the zip64 limit, valid ZIP64 (checked
/// by Python's `zipfile` + `numpy.load`, an independent reader) when a small forced threshold makes every size and
/// offset "large", and nothing left behind when a write is abandoned or stops early.
final class NPZStreamWriterTests: XCTestCase {
    func tempPath(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "npzstream-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d + "/" + name
    }

    /// Bytes 0, 7, 14, … (mod 251) in `chunks` appends.
    func payload(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(($0 * 7) % 251) } }

    func write(_ path: String, shape: [Int], threshold: UInt64, chunk: Int) throws -> [UInt8] {
        let bytes = payload(shape.reduce(1, *))
        let w = try NPZStreamWriter(path: path, dtype: .uint8, shape: shape, zip64Threshold: threshold)
        for s in stride(from: 0, to: bytes.count, by: chunk) {
            try w.append(Array(bytes[s..<min(s + chunk, bytes.count)]))
        }
        try w.finish()
        return bytes
    }

    func testSmallArchiveIsByteIdenticalToNPZEncode() throws {
        let path = tempPath("a.npz")
        let shape = [5, 4, 3, 3]
        let bytes = try write(path, shape: shape, threshold: 0xFFFF_FFFF, chunk: 17)
        let expected = try NPZ.encode(arrays: [
            (
                name: "arr_0",
                array: NPYArray(
                    dtype: .uint8, shape: shape,
                    bytes: bytes)
            )
        ])
        XCTAssertEqual(try FileIO.read(path), expected)
        let back = try XCTUnwrap(NPZ.read(path)["arr_0"])
        XCTAssertEqual(back.shape, shape)
        XCTAssertEqual(back.bytes, bytes)
        let dir = (path as NSString).deletingLastPathComponent
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["a.npz"])
    }

    /// Forced thresholds 1 (sizes and directory offset in zip64, member offset 0 plain) and 0 (the member offset
    /// too): Python's zipfile reports the zip64 member and numpy.load gives the array back.
    func testForcedZip64IsReadByPythonZipfileAndNumpy() throws {
        guard let python = pythonWithNumpy() else { throw XCTSkip("python3 with numpy is not installed") }
        for threshold: UInt64 in [1, 0] {
            let path = tempPath("z\(threshold).npz")
            let shape = [6, 5, 4, 3]
            let bytes = try write(path, shape: shape, threshold: threshold, chunk: 50)
            XCTAssertThrowsError(try NPZ.read(path), "the repo's reader refuses zip64, so the records are zip64")
            let script = """
                import sys, zipfile, numpy as np
                z = zipfile.ZipFile(sys.argv[1])
                assert z.testzip() is None
                info = z.getinfo('arr_0.npy')
                assert info.extract_version >= 45, info.extract_version
                a = np.load(sys.argv[1])['arr_0']
                w = (a.reshape(-1).astype(np.int64) * np.arange(a.size)) % 997
                print(a.dtype, a.shape, int(a.astype(np.int64).sum()), int(w.sum()))
                """
            let out = try run(python, ["-c", script, path])
            let flat = bytes.map(Int.init)
            let weighted = flat.enumerated().map { ($0.element * $0.offset) % 997 }.reduce(0, +)
            let expected = "uint8 (6, 5, 4, 3) \(flat.reduce(0, +)) \(weighted)"
            XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), expected, "threshold \(threshold)")
        }
    }

    /// A real > 4 GiB archive (opt-in: FLOWTURBO_TEST_ZIP64_LARGE=1, writes 4.3 GB to the temp directory): Python's
    /// zipfile checks the CRC-32 of all of it, reads the .npy header and the last chunk, stamped with its index.
    func testLargeArchivePast4GiBIsReadByPython() throws {
        guard ProcessInfo.processInfo.environment["FLOWTURBO_TEST_ZIP64_LARGE"] == "1" else {
            throw XCTSkip("set FLOWTURBO_TEST_ZIP64_LARGE=1 to write a 4.3 GB .npz")
        }
        guard let python = pythonWithNumpy() else { throw XCTSkip("python3 with numpy is not installed") }
        let path = tempPath("large.npz")
        let chunk = 1 << 26
        let chunks = 65
        var block = payload(chunk)
        let w = try NPZStreamWriter(path: path, dtype: .uint8, shape: [chunks, chunk])
        for c in 0..<chunks {
            block[0] = UInt8(c)
            try w.append(block)
        }
        try w.finish()
        let script = """
            import sys, zipfile, numpy as np
            z = zipfile.ZipFile(sys.argv[1])
            assert z.testzip() is None
            f = z.open('arr_0.npy')
            assert np.lib.format.read_magic(f) == (1, 0)
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            start = f.tell()
            f.seek(start + (shape[0] - 1) * shape[1])
            last = np.frombuffer(f.read(shape[1]), dtype=np.uint8)
            big = z.getinfo('arr_0.npy').file_size > 2**32
            print(dtype, shape, big, int(last[0]), int(last[1:].astype(np.int64).sum()))
            """
        let out = try run(python, ["-c", script, path]).trimmingCharacters(in: .whitespacesAndNewlines)
        let rest = block.dropFirst().reduce(0) { $0 + Int($1) }
        XCTAssertEqual(out, "uint8 (\(chunks), \(chunk)) True \(chunks - 1) \(rest)")
    }

    func testAbandonedOrShortWriteLeavesNothing() throws {
        let path = tempPath("b.npz")
        let dir = (path as NSString).deletingLastPathComponent
        let w = try NPZStreamWriter(path: path, dtype: .uint8, shape: [4, 4])
        try w.append([1, 2, 3])
        XCTAssertThrowsError(try w.finish())
        w.abandon()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
        let v = try NPZStreamWriter(path: path, dtype: .uint8, shape: [2])
        XCTAssertThrowsError(try v.append([1, 2, 3]), "more bytes than the shape holds")
        v.abandon()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    /// `python3` on PATH when it imports numpy.
    func pythonWithNumpy() -> String? {
        (try? run("python3", ["-c", "import numpy"])) != nil ? "python3" : nil
    }

    func run(_ exe: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [exe] + args
        let pipe = Pipe()
        let errPipe = Pipe()
        p.standardOutput = pipe
        p.standardError = errPipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw FlowError("\(exe) failed with status \(p.terminationStatus): \(err.suffix(400))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
