import Foundation
import XCTest

/// Multi-host run on one machine: `Scripts/netns-multihost.sh` puts the coordinator and two workers
/// in separate network namespaces with their own addresses and compares the latents bit for bit with
/// a single-host run. Skipped (with the script's reason) where namespaces cannot be created.
final class MultiHostTests: XCTestCase {
    /// Repository root, from this file's path.
    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    func testCoordinatorAndWorkersInSeparateNetworkNamespacesMatchSingleHost() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
        let script = Self.root + "/Scripts/netns-multihost.sh"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script, Harness.binary]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus == 77 {
            let reason = output.split(separator: "\n").first { $0.hasPrefix("SKIP:") } ?? "namespaces unavailable"
            print("MultiHostTests skipped: \(reason)")
            throw XCTSkip(String(reason))
        }
        XCTAssertEqual(p.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("OK:"), output)
        print(output)
    }
}
