import FlowApp
import FlowCluster
import FlowTestSupport
import Foundation
import XCTest

/// `RunApplication.prepare`: contradictions are refused before the run directory is touched, and `overwrite`
/// deletes exactly the previous run's files.
final class RunApplicationTests: XCTestCase {
    func request(_ out: String) -> RunRequest {
        var r = RunRequest()
        r.model = "gmm:synthetic"
        r.plan = "H8"
        r.samples = 16
        r.out = out
        return r
    }

    func write(_ path: String, _ text: String = "x") throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    func testContradictionsAreTypedAndTouchNothing() throws {
        let d = TestEnvironment.tempDirectory("app-contradict")
        defer { try? FileManager.default.removeItem(atPath: d) }
        try write(d + "/run/journal.log")
        var r = request(d + "/run")
        r.overwrite = true
        r.resume = true
        XCTAssertThrowsError(try RunApplication.prepare(r)) {
            XCTAssertEqual($0 as? RunSettingError, .conflicting(.overwrite, .resume))
        }
        XCTAssertTrue(exists(d + "/run/journal.log"), "a refused overwrite deletes nothing")
        r = request(d + "/other")
        r.imagesPerPrompt = 2
        XCTAssertThrowsError(try RunApplication.prepare(r)) {
            XCTAssertEqual($0 as? RunSettingError, .needs(.imagesPerPrompt, value: "2", requires: .prompts))
        }
        r = request(d + "/other")
        r.report = ReportRequest(reference: nil, features: "random-projection")
        XCTAssertThrowsError(try RunApplication.prepare(r)) {
            XCTAssertEqual($0 as? RunSettingError, .needs(.features, value: "random-projection", requires: .reference))
        }
        r = request(d + "/other")
        r.part = "0/2"
        r.exportNPZ = true
        XCTAssertThrowsError(try RunApplication.prepare(r)) {
            XCTAssertEqual($0 as? RunSettingError, .wholeRunOnly(.exportNPZ))
        }
    }

    func testOverwriteRemovesOnlyThePreviousRun() throws {
        let d = TestEnvironment.tempDirectory("app-overwrite")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let run = d + "/run"
        let own = ["journal.log", "manifest.json", "report.json", "report.md", "samples.npz", "endpoints.json"]
        for f in own { try write(run + "/" + f, "{}") }
        try write(run + "/notes.txt")
        var r = request(run)
        r.overwrite = true
        let spec = try RunApplication.prepare(r)
        XCTAssertEqual(spec.outDir, run)
        XCTAssertEqual(spec.plan, "H8")
        for f in own { XCTAssertFalse(exists(run + "/" + f), f) }
        XCTAssertTrue(exists(run + "/notes.txt"), "files the run did not write stay")
    }

    func testEndpointsFileIsPrivateJSON() throws {
        let d = TestEnvironment.tempDirectory("app-endpoints")
        defer { try? FileManager.default.removeItem(atPath: d) }
        try RunDirectory.writeEndpoints(d, control: 4001, data: 4002)
        let path = d + "/endpoints.json"
        XCTAssertEqual(RunDirectory.endpointsPath(d), path)
        let obj = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
                as? [String: Int])
        XCTAssertEqual(obj, ["control_port": 4001, "data_port": 4002, "pid": Int(getpid())])
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        XCTAssertEqual(mode & 0o777, 0o600)
    }
}
