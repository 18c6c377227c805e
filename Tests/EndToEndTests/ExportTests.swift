import FlowCluster
import Foundation
import XCTest

@testable import FlowTensor

/// `flowturbo export` on a real `gmm:mnist` run (1×28×28 samples): adm-npz against an independent float64 reading of
/// the run's float32 shards (and numpy's own uint8 cast when python3 + numpy exist), the PNG folder decoded back, and
/// refusals (damaged run with the verify hint, GenEval for a class run, existing output) that leave no partial output.
final class ExportTests: XCTestCase {
    static var run: (dir: String, samples: Int)?

    override class func tearDown() {
        Harness.removeTempDirs()
        run = nil
        super.tearDown()
    }

    func shared() throws -> (dir: String, samples: Int) {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
        if let r = Self.run { return r }
        let d = Harness.tempDir("export")
        let args = [
            "run", "--model", "gmm:mnist", "--plan", "H2", "--samples", "20", "--batch", "4",
            "--shard-size", "8", "--workers", "1", "--quiet", "--out", d + "/run",
        ]
        let (st, err) = try Harness.run(args, logDir: d, tag: "run", timeout: 120)
        XCTAssertEqual(st, 0, err)
        Self.run = (d, 20)
        return (d, 20)
    }

    /// Reference pixels [N, H, W, 3] from the run's shards, read with NPY and mapped in float64:
    /// clip(floor((x + 1) · 127.5 + 0.5), 0, 255), gray replicated.
    func referencePixels(_ run: String) throws -> [UInt8] {
        let shards = try FileManager.default.contentsOfDirectory(atPath: run + "/latents")
            .filter { $0.hasSuffix(".npy") && !$0.hasSuffix(".labels.npy") }.sorted()
        XCTAssertEqual(shards.count, 3)
        var out: [UInt8] = []
        for s in shards {
            let a = try NPY.read(run + "/latents/" + s)
            XCTAssertEqual(Array(a.shape.dropFirst()), [1, 28, 28])
            for x in a.floats() {
                let u = max(0, min(255, ((Double(x) + 1) * 127.5 + 0.5).rounded(.down)))
                out += [UInt8(u), UInt8(u), UInt8(u)]
            }
        }
        return out
    }

    func testADMNPZIsUint8NHWC3MatchingTheShards() throws {
        let (d, n) = try shared()
        let (st, err) = try Harness.run(
            ["export", "--format", "adm-npz", d + "/run", "--out", d + "/s.npz"],
            logDir: d, tag: "npz")
        XCTAssertEqual(st, 0, err)
        let a = try XCTUnwrap(NPZ.read(d + "/s.npz")["arr_0"])
        XCTAssertEqual(a.dtype, .uint8)
        XCTAssertEqual(a.shape, [n, 28, 28, 3])
        let want = try referencePixels(d + "/run")
        XCTAssertEqual(a.bytes.count, want.count)
        XCTAssertEqual(zip(a.bytes, want).filter { $0 != $1 }.count, 0, "pixels differ from the float64 reference")
        XCTAssertGreaterThan(Set(a.bytes).count, 50, "a real range of gray levels, not a constant")
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/s.npz.tmp-\(getpid())"))
        let numpy = """
            import sys, glob, numpy as np
            a = np.load(sys.argv[1])['arr_0']
            x = np.concatenate([np.load(f) for f in sorted(glob.glob(sys.argv[2] + '/latents/shard-*[0-9].npy'))])
            u = np.clip(127.5 * x + 128.0, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1).repeat(3, axis=3)
            print(a.dtype, a.shape, bool((a == u).all()))
            """
        if let out = try? pythonOutput(["-c", numpy, d + "/s.npz", d + "/run"]) {
            XCTAssertEqual(out, "uint8 (\(n), 28, 28, 3) True")
        }
    }

    func testPNGFolderHasOneGrayPNGPerSample() throws {
        let (d, n) = try shared()
        let (st, err) = try Harness.run(["export", "--format", "png", d + "/run", d + "/png"], logDir: d, tag: "png")
        XCTAssertEqual(st, 0, err)
        let names = try FileManager.default.contentsOfDirectory(atPath: d + "/png").sorted()
        XCTAssertEqual(names, (0..<n).map { String(format: "%06d.png", $0) })
        let want = try referencePixels(d + "/run")
        for i in [0, 7, 8, n - 1] {
            let (w, h, c, px) = try Self.decodePNG(try FileIO.read(d + "/png/" + names[i]))
            XCTAssertEqual([w, h, c], [28, 28, 1])
            let ref = stride(from: i * 784 * 3, to: (i + 1) * 784 * 3, by: 3).map { want[$0] }
            XCTAssertEqual(px, ref, "sample \(i)")
        }
    }

    func testRefusalsLeaveNoOutput() throws {
        let (d, _) = try shared()
        var (st, err) = try Harness.run(
            ["export", "--format", "geneval", d + "/run", "--out", d + "/ge"],
            logDir: d, tag: "ge")
        XCTAssertNotEqual(st, 0)
        XCTAssertTrue(err.contains("class-conditional"), err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/ge"))
        try FileManager.default.createDirectory(atPath: d + "/full", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: d + "/full/keep"))
        (st, err) = try Harness.run(
            ["export", "--format", "png", d + "/run", "--out", d + "/full"],
            logDir: d, tag: "full")
        XCTAssertNotEqual(st, 0)
        XCTAssertTrue(err.contains("already exists"), err)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: d + "/full"), ["keep"])
        // A damaged copy of the run: one byte of the last shard flipped.
        try FileManager.default.copyItem(atPath: d + "/run", toPath: d + "/bad")
        let shard = d + "/bad/latents/shard-000002.npy"
        var bytes = try FileIO.read(shard)
        bytes[bytes.count - 1] ^= 0x40
        try FileIO.writeAtomically(shard, bytes)
        for (format, out) in [("adm-npz", d + "/bad.npz"), ("png", d + "/badpng")] {
            (st, err) = try Harness.run(
                ["export", "--format", format, d + "/bad", "--out", out],
                logDir: d, tag: format)
            XCTAssertNotEqual(st, 0)
            XCTAssertTrue(err.contains("flowturbo verify"), err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), out)
        }
        // An unfinished copy: the journal without its last commit.
        try FileManager.default.copyItem(atPath: d + "/run", toPath: d + "/part")
        let journal = try Journal.read(d + "/part/journal.log")
        let kept = Array(journal.commits.dropLast())
        try Journal.rewrite(d + "/part/journal.log", header: journal.header, commits: kept)
        (st, err) = try Harness.run(
            ["export", "--format", "adm-npz", d + "/part", "--out", d + "/part.npz"],
            logDir: d, tag: "part")
        XCTAssertNotEqual(st, 0)
        XCTAssertTrue(err.contains("incomplete") && err.contains("flowturbo verify"), err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/part.npz"))
        (st, err) = try Harness.run(
            ["export", "--format", "webp", d + "/run", "--out", d + "/x"],
            logDir: d, tag: "fmt")
        XCTAssertNotEqual(st, 0)
        XCTAssertTrue(err.contains("adm-npz"), err)
    }

    /// 8-bit gray/RGB PNG with filter-0 rows (what `PNG.encode` writes): width, height, channels, pixels.
    static func decodePNG(_ b: [UInt8]) throws -> (Int, Int, Int, [UInt8]) {
        func be32(_ o: Int) -> Int {
            var v = 0
            for j in 0..<4 { v = v << 8 | Int(b[o + j]) }
            return v
        }
        var o = 8
        var w = 0
        var h = 0
        var c = 0
        var idat: [UInt8] = []
        while o + 8 <= b.count {
            let len = be32(o)
            let type = String(decoding: b[(o + 4)..<(o + 8)], as: UTF8.self)
            if type == "IHDR" {
                w = be32(o + 8)
                h = be32(o + 12)
                c = b[o + 17] == 0 ? 1 : 3
            }
            if type == "IDAT" { idat += b[(o + 8)..<(o + 8 + len)] }
            o += 12 + len
        }
        let raw = try Inflate.inflate(idat[...], windowBits: 15, expected: h * (w * c + 1), source: "png")
        var px: [UInt8] = []
        let row: Int = w * c + 1
        for y in 0..<h {
            let start: Int = y * row
            XCTAssertEqual(raw[start], 0, "filter type")
            px += raw[(start + 1)..<(start + row)]
        }
        return (w, h, c, px)
    }

    func pythonOutput(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = Pipe()
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw FlowError("python3 failed (\(p.terminationStatus))") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
