import FlowCluster
import Foundation
import XCTest

/// Run files are private whatever the umask: run directory 0700, files 0600; a shared folder the user chose is
/// left alone.
final class PrivateFilesTests: XCTestCase {
    func testModesIndependentOfUmask() throws {
        let base = NSTemporaryDirectory() + "private-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let old = umask(0)  // the most permissive umask: modes must still be private
        defer { umask(old) }
        try PrivateFiles.makeDirectory(base + "/a/run")
        XCTAssertEqual(PrivateFiles.mode(base + "/a/run"), 0o700)
        XCTAssertEqual(PrivateFiles.mode(base + "/a"), 0o755, "parents keep the usual mode")
        try PrivateFiles.makeSubdirectory(base + "/a/run/latents")
        XCTAssertEqual(PrivateFiles.mode(base + "/a/run/latents"), 0o700)
        try PrivateFiles.write(base + "/a/run/endpoints.json", Array("{}".utf8))
        XCTAssertEqual(PrivateFiles.mode(base + "/a/run/endpoints.json"), 0o600)
        XCTAssertEqual(try String(contentsOfFile: base + "/a/run/endpoints.json", encoding: .utf8), "{}")
        // An existing empty directory, or one holding a run, is narrowed; a folder with other files is not.
        for (name, file) in [("empty", nil), ("old-run", "journal.log"), ("shared", "notes.txt")] {
            let d = base + "/" + name
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            chmod(d, 0o755)
            if let f = file { FileManager.default.createFile(atPath: d + "/" + f, contents: Data()) }
            try PrivateFiles.makeDirectory(d)
            XCTAssertEqual(PrivateFiles.mode(d), name == "shared" ? 0o755 : 0o700, name)
        }
    }
}
