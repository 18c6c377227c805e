import FlowCluster
import FlowTestSupport
import Foundation
import XCTest

/// The real binary with CurveZMQ keys: unknown workers refused, plaintext refused on non-loopback addresses.
final class CurveBinaryTests: XCTestCase {
    override func setUpWithError() throws {
        guard CurveKeys.available else { throw XCTSkip("libzmq without CURVE (zmq_has(\"curve\") = 0)") }
    }

    func tempDir(_ tag: String) -> String { TestEnvironment.tempDirectory("curve-\(tag)") }

    /// The real binary: an unknown worker key gets no work, a good worker completes the run with the
    /// same bytes as a plain local run; plaintext on a non-loopback address needs --insecure.
    func testBinaryRejectsUnknownWorkerAndCompletesWithGoodOne() throws {
        guard let bin = TestEnvironment.binary else {
            throw XCTSkip("flowturbo binary not built next to the tests; run `swift build` first")
        }
        let d = tempDir("e2e")
        defer { try? FileManager.default.removeItem(atPath: d) }
        XCTAssertEqual(
            try TestEnvironment.run(
                bin, ["keys", "generate", "--out", d + "/keys", "--name", "coordinator", "worker", "intruder"]
            ).0, 0)
        let common = [
            "--model", "gmm:synthetic", "--samples", "64", "--batch", "8", "--shard-size", "8", "--seed", "2", "--plan",
            "H8", "--quiet",
        ]
        // Refused: all interfaces without keys; allowed with --insecure (checked up to the bind).
        let (refused, msg) = try TestEnvironment.run(
            bin, ["coordinator", "--bind", "tcp://*:0", "--out", d + "/plain"] + common)
        XCTAssertNotEqual(refused, 0)
        XCTAssertTrue(msg.contains("--insecure") && msg.contains("--curve-secret"), msg)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: d + "/plain/journal.log"), "nothing may start before the check")

        let port = TestEnvironment.freePortPair()
        let coord = Process()
        coord.executableURL = URL(fileURLWithPath: bin)
        coord.arguments =
            [
                "coordinator", "--bind", "tcp://127.0.0.1:\(port)", "--curve-secret", d + "/keys/coordinator.key",
                "--allow", d + "/keys/worker.pub", "--out", d + "/run",
            ] + common
        coord.standardError = FileHandle(forWritingAtPath: "/dev/null")
        coord.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try coord.run()
        let connect = [
            "--connect", "tcp://127.0.0.1:\(port)", "--model", "gmm:synthetic", "--curve-server-key",
            d + "/keys/coordinator.pub",
        ]
        let (badStatus, badOut) = try TestEnvironment.run(
            bin,
            ["worker", "--id", "intruder", "--give-up-seconds", "3", "--curve-secret", d + "/keys/intruder.key"]
                + connect)
        XCTAssertNotEqual(badStatus, 0, "the intruder must get nothing and give up: \(badOut)")
        let (goodStatus, goodOut) = try TestEnvironment.run(
            bin, ["worker", "--id", "good", "--curve-secret", d + "/keys/worker.key"] + connect)
        XCTAssertEqual(goodStatus, 0, goodOut)
        coord.waitUntilExit()
        XCTAssertEqual(coord.terminationStatus, 0)
        let report =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: d + "/run/report.json")))
            as? [String: Any]
        let cluster = report?["cluster"] as? [String: Any] ?? [:]
        XCTAssertGreaterThanOrEqual(cluster["auth_rejected"] as? Int ?? 0, 1, "\(cluster)")
        let journal = try String(contentsOfFile: d + "/run/journal.log", encoding: .utf8)
        XCTAssertFalse(journal.contains("intruder"))
        XCTAssertEqual(journal.components(separatedBy: "\"worker\":\"good\"").count - 1, 8)
        // Same bytes as a plain loopback run.
        XCTAssertEqual(try TestEnvironment.run(bin, ["run", "--workers", "1", "--out", d + "/ref"] + common).0, 0)
        for s in 0..<8 {
            let f = "/latents/shard-00000\(s).npy"
            XCTAssertEqual(
                try Data(contentsOf: URL(fileURLWithPath: d + "/run" + f)),
                try Data(contentsOf: URL(fileURLWithPath: d + "/ref" + f)), f)
        }
    }
}
