import Foundation
import XCTest

/// Library errors name settings as typed values and the CLI spells them as its flags: the messages a user sees
/// are exactly those the libraries printed when they still quoted flags themselves (the old text is the reference).
final class LibraryErrorMessagesTests: XCTestCase {
    override class func tearDown() {
        Harness.removeTempDirs()
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
    }

    func expectError(_ args: [String], _ old: String, dir: String, tag: String, line: UInt = #line) throws {
        let (status, err) = try Harness.run(args, logDir: dir, tag: tag)
        XCTAssertEqual(status, 1, err, line: line)
        XCTAssertEqual(err.trimmingCharacters(in: .whitespacesAndNewlines), "Error: " + old, line: line)
    }

    func testExistingRunAndExistingKeysNameTheirFlags() throws {
        let d = Harness.tempDir("liberrors")
        let out = d + "/run"
        let run = ["run", "--model", "gmm:synthetic", "--samples", "16", "--plan", "H8", "--quiet", "--out", out]
        let (status, err) = try Harness.run(run, logDir: d, tag: "first", timeout: 120)
        XCTAssertEqual(status, 0, err)
        try expectError(
            run,
            "\(out)/journal.log exists: this directory holds a run; pass --resume to continue it, --overwrite to start "
                + "over, or choose another --out",
            dir: d, tag: "again")

        let keys = ["keys", "generate", "--out", d + "/keys", "--name", "w1"]
        XCTAssertEqual(try Harness.run(keys, logDir: d, tag: "keys").0, 0)
        try expectError(
            keys, "\(d)/keys/w1.key exists; keys are never overwritten — remove it or choose another --name", dir: d,
            tag: "keys-again")
    }
}
