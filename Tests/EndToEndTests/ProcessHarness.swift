import FlowTensor
import FlowTestSupport
import Foundation
import XCTest

/// Spawns the real `flowturbo` binary (built next to the test bundle) and reads run directories
/// with FlowTensor's own NPY reader (not the cluster code under test).
enum Harness {
    /// Path of the `flowturbo` executable in the products directory (`TestEnvironment`; the first candidate when it
    /// was not built, so the skip message names where it was expected).
    static var binary: String { TestEnvironment.binary ?? TestEnvironment.binaryCandidates[0] }

    /// Directories made by `tempDir`, removed by `removeTempDirs()`.
    static var created: [String] = []

    /// A fresh temporary directory.
    static func tempDir(_ tag: String) -> String {
        let d = TestEnvironment.tempDirectory("flowturbo-e2e-\(tag)")
        created.append(d)
        return d
    }

    /// Deletes every directory made by `tempDir` (and forgets the reference runs inside them).
    static func removeTempDirs() {
        for d in created { try? FileManager.default.removeItem(atPath: d) }
        created = []
        references = [:]
    }

    /// Flags of the small gmm:synthetic run the distributed tests compare against (160 samples in 10 shards).
    static let smallRun = [
        "--model", "gmm:synthetic", "--samples", "160", "--batch", "8", "--shard-size", "16",
        "--seed", "3", "--plan", "H8", "--quiet",
    ]

    private static var references: [String: String] = [:]

    /// A clean one-worker run with `flags`, computed once until `removeTempDirs()`; returns its run directory.
    static func referenceRun(_ flags: [String]) throws -> String {
        let key = flags.joined(separator: " ")
        if let d = references[key] { return d }
        let d = tempDir("ref")
        let (status, err) = try run(["run", "--workers", "1", "--out", d + "/run"] + flags, logDir: d, tag: "ref")
        guard status == 0 else { throw FlowError("reference run failed (\(status)): \(err)") }
        references[key] = d + "/run"
        return d + "/run"
    }

    /// Starts `flowturbo args…` with stdout/stderr captured to files in `logDir`.
    static func start(_ args: [String], logDir: String, tag: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        FileManager.default.createFile(atPath: "\(logDir)/\(tag).out", contents: nil)
        FileManager.default.createFile(atPath: "\(logDir)/\(tag).err", contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: "\(logDir)/\(tag).out")
        p.standardError = FileHandle(forWritingAtPath: "\(logDir)/\(tag).err")
        try p.run()
        return p
    }

    /// Runs to completion (SIGKILL after `timeout` s); returns the exit status and stderr text.
    @discardableResult
    static func run(_ args: [String], logDir: String, tag: String, timeout: Double = 60) throws -> (Int32, String) {
        let p = try start(args, logDir: logDir, tag: tag)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        let err = (try? String(contentsOfFile: "\(logDir)/\(tag).err", encoding: .utf8)) ?? ""
        return (p.terminationStatus, err)
    }

    /// Waits until `cond` holds or `timeout` passes; returns whether it held.
    static func wait(timeout: Double, _ cond: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if cond() { return true }
            usleep(10_000)
        }
        return cond()
    }

    /// Direct children of `pid` (from /proc).
    static func children(of pid: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// JSON object of a file.
    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// Journal records (payload JSON of each well-formed line; CRC not checked here).
    static func journal(_ dir: String) -> [[String: Any]] {
        let text = (try? String(contentsOfFile: dir + "/journal.log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let tab = line.lastIndex(of: "\t") else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(line[..<tab].utf8))) as? [String: Any]
        }
    }

    /// Shard ids in the journal's commit records, in order.
    static func committedShards(_ dir: String) -> [Int] {
        journal(dir).dropFirst().compactMap { $0["shard"] as? Int }
    }

    /// All samples of a finished run in index order: float32 bytes, labels, first indices, via manifest.json.
    static func samples(_ dir: String) throws -> (bytes: [UInt8], labels: [Int64], count: Int) {
        let manifest = try json(dir + "/manifest.json")
        let shards = (manifest["shards"] as! [[String: Any]]).sorted { ($0["first"] as! Int) < ($1["first"] as! Int) }
        var bytes: [UInt8] = []
        var labels: [Int64] = []
        var expectedFirst = 0
        for s in shards {
            XCTAssertEqual(
                s["first"] as? Int, expectedFirst, "shards must tile the index range without gaps or overlaps")
            let a = try NPY.read(dir + "/" + (s["file"] as! String))
            XCTAssertEqual(a.dtype, .float32)
            XCTAssertEqual(a.shape.first, s["count"] as? Int)
            bytes += a.bytes
            labels += try NPY.read(dir + "/" + (s["labels"] as! String)).int64s()
            expectedFirst += s["count"] as! Int
        }
        return (bytes, labels, expectedFirst)
    }
}
