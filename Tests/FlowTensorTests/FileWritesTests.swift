import FlowTensor
import Foundation
import XCTest

/// FileIO's one write path: atomic replace, exact permissions, exclusive create, errors that name the path.
final class FileWritesTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = NSTemporaryDirectory() + "filewrites-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileIO.makeDirectories(dir)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func mode(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o777 : nil
    }

    func testAtomicReplaceWritesAllBytesAndLeavesNoTemp() throws {
        let path = dir + "/a.bin"
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try FileIO.writeAtomically(path, [1, 2, 3], durable: true)
        try FileIO.writeAtomically(path, big, durable: true)
        XCTAssertEqual(try FileIO.read(path), big)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["a.bin"])
    }

    func testPermissionsAreExactWhateverTheUmask() throws {
        let old = umask(0o077)
        defer { umask(old) }
        try FileIO.writeAtomically(dir + "/open.txt", [65], permissions: 0o644)
        XCTAssertEqual(mode(dir + "/open.txt"), 0o644)
        try FileIO.writeFile(dir + "/secret.txt", [66], permissions: 0o600, durable: true)
        XCTAssertEqual(mode(dir + "/secret.txt"), 0o600)
        try FileIO.writeAtomically(dir + "/umasked.txt", [67])
        XCTAssertEqual(mode(dir + "/umasked.txt"), 0o600, "no permissions given: 0644 less the umask")
    }

    func testExclusiveCreateRefusesAnExistingFile() throws {
        let path = dir + "/key"
        try FileIO.writeFile(path, [1], exclusive: true, durable: true)
        XCTAssertThrowsError(try FileIO.writeFile(path, [2], exclusive: true, durable: true)) { e in
            XCTAssertTrue("\(e)".contains(path), "\(e)")
        }
        XCTAssertEqual(try FileIO.read(path), [1])
    }

    func testFailedWriteNamesThePathAndKeepsTheOldFile() throws {
        let missing = dir + "/no/such/dir/x.bin"
        XCTAssertThrowsError(try FileIO.writeAtomically(missing, [1], durable: true)) { e in
            XCTAssertTrue("\(e)".contains(missing), "\(e)")
            XCTAssertTrue("\(e)".contains("cannot create"), "\(e)")
        }
        let path = dir + "/keep.bin"
        try FileIO.writeAtomically(path, [9, 9])
        let blocker = path + ".tmp-\(getpid())"
        try FileIO.makeDirectories(blocker)  // the temp name is taken by a directory: the write cannot start
        XCTAssertThrowsError(try FileIO.writeAtomically(path, [1, 2, 3]))
        XCTAssertEqual(try FileIO.read(path), [9, 9])
    }
}
