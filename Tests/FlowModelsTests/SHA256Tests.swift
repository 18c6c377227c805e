import FlowModels
import FlowTensor
import FlowTestSupport
import Foundation
import XCTest

/// SHA-256 (swift-crypto) against published FIPS 180-4 / NIST example digests and against coreutils' `sha256sum`
/// on random files at the padding edges (55/56 bytes: one or two final blocks; 63/64/65: around a block) and
/// across the 4 MiB read chunks, plus the shipped model files.
final class SHA256Tests: XCTestCase {
    /// FIPS 180-4 examples (NIST CSRC "SHA256.pdf", FIPS 180-2 appendix B): one block, two blocks, a million "a".
    func testPublishedVectors() {
        XCTAssertEqual(
            SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(
            SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        XCTAssertEqual(SHA256.hash(Array("abc".utf8)).count, 32)
    }

    func sha256sum(_ path: String) throws -> String {
        let tool = "/usr/bin/sha256sum"
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw XCTSkip("\(tool) (coreutils) not found; it is the independent reference")
        }
        let (status, out) = try TestEnvironment.run(tool, [path])
        XCTAssertEqual(status, 0, out)
        return String(out.prefix(64))
    }

    func testRandomFilesMatchSha256sum() throws {
        let d = TestEnvironment.tempDirectory("sha256")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let chunk = SHA256.chunkBytes
        let sizes = [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, chunk - 1, chunk, chunk + 1, 2 * chunk + 65]
        var rng = SystemRandomNumberGenerator()
        for size in sizes {
            var words = [UInt64](repeating: 0, count: (size + 7) / 8)
            for i in words.indices { words[i] = rng.next() }
            let bytes = words.withUnsafeBytes { Array($0.prefix(size)) }
            let path = d + "/f\(size)"
            try FileIO.writeAtomically(path, bytes)
            let want = try sha256sum(path)
            XCTAssertEqual(want.count, 64, "sha256sum output for \(size) bytes")
            XCTAssertEqual(try SHA256.hex(file: path), want, "streamed, \(size) bytes")
            XCTAssertEqual(SHA256.hex(bytes), want, "in memory, \(size) bytes")
        }
    }

    /// Every shipped model's digest (what journals, assignments and refiner ties store) is the file's SHA-256.
    func testShippedModelDigestsMatchSha256sum() throws {
        let dir = ModelLoader.modelsDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter {
            $0.hasSuffix(".safetensors")
        }
        guard let names, !names.isEmpty else { throw XCTSkip("no shipped models in \(dir)") }
        for name in names.sorted() {
            let path = dir + "/" + name
            XCTAssertEqual(try ModelLoader.digest(path), try sha256sum(path), name)
        }
        XCTAssertEqual(try ModelLoader.digest("gmm:mnist"), try sha256sum(dir + "/gmm-mnist.safetensors"))
    }

    func testUnreadableInputsNameThePath() throws {
        let d = TestEnvironment.tempDirectory("sha256-bad")
        defer { try? FileManager.default.removeItem(atPath: d) }
        XCTAssertThrowsError(try SHA256.hex(file: d + "/missing.safetensors")) { e in
            let m = (e as? FlowError)?.message ?? ""
            XCTAssertTrue(m.contains(d + "/missing.safetensors") && m.contains("No such file"), m)
        }
        XCTAssertThrowsError(try SHA256.hex(file: d)) { e in
            let m = (e as? FlowError)?.message ?? ""
            XCTAssertTrue(m.contains("is a directory"), m)
        }
    }
}
