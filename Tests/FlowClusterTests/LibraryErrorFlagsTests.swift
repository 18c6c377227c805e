import FlowCluster
import FlowTensor
import FlowTestSupport
import FlowZMQ
import Foundation
import XCTest

/// Converted library errors: spelled with the CLI's flags they read exactly as the message the library wrote
/// before it stopped quoting flags (the old text is the reference here), and the library's own wording quotes none.
final class LibraryErrorFlagsTests: XCTestCase {
    /// The CLI's flags for the settings below, written out (the CLI's table lives in the executable).
    static func flag(_ s: Setting) -> String {
        let flags: [Setting: String] = [
            .resume: "--resume", .overwrite: "--overwrite", .out: "--out", .name: "--name", .logLevel: "--log-level",
            .allowList: "--allow",
        ]
        return flags[s] ?? "<no flag for \(s.rawValue)>"
    }

    func check(_ body: () throws -> Void, old: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? FlowError else {
                return XCTFail("not a FlowError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(e.rendered(naming: Self.flag), old, file: file, line: line)
            XCTAssertFalse(e.message.contains("--"), e.message, file: file, line: line)
            XCTAssertFalse(e.settings.isEmpty, file: file, line: line)
        }
    }

    func testJournalExists() throws {
        let d = TestEnvironment.tempDirectory("errflags-journal")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let path = d + "/journal.log"
        let header = RunHeader(
            evalSetId: "e", samples: 64, classes: 10, labelMode: "balanced", seed: 1, plan: "H8", guidanceScale: 1,
            guidanceChannels: 0, batch: 8, shardSize: 16, models: ["predictor=gmm:synthetic@x"])
        _ = try Journal.create(path, header: header)
        check(
            { _ = try Journal.create(path, header: header) },
            old: "\(path) exists: this directory holds a run; pass --resume to continue it, --overwrite to start over, "
                + "or choose another --out")
        check(
            { _ = try Journal.resume(d + "/none.log", expected: header) },
            old: "\(d)/none.log: no journal to resume; run without --resume to start")
    }

    func testCurveKeyMessages() throws {
        let d = TestEnvironment.tempDirectory("errflags-keys")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let pair = try CurveKeys.generate()
        _ = try CurveKeys.write(pair, dir: d, name: "w1")
        check(
            { _ = try CurveKeys.write(pair, dir: d, name: "w1") },
            old: "\(d)/w1.key exists; keys are never overwritten — remove it or choose another --name")
        check(
            { _ = try CurveKeys.readAllowList(d + "/missing") },
            old: "--allow \(d)/missing: no such file or directory; give a directory of worker .pub files or a file of "
                + "public keys")
    }

    func testRunDirectoryAndLogLevel() {
        check(
            { try RunDirectory.checkOut(" ") },
            old: "--out is empty: a run directory is required (e.g. runs/latest); an empty path would write into /")
        check(
            { _ = try ClusterLog.parse("loud") },
            old: "--log-level loud: expected one of trace, debug, info, notice, warning, error, critical")
        // A caller's own name for the directory replaces the setting.
        XCTAssertThrowsError(try RunDirectory.checkOut("", name: "run directory")) {
            XCTAssertEqual(($0 as? FlowError)?.settings, [], "\($0)")
            XCTAssertTrue("\($0)".hasPrefix("run directory is empty"), "\($0)")
        }
    }
}
