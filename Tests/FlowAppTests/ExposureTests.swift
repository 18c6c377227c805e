import FlowApp
import XCTest

/// The exposure rule: which endpoints count as reachable only from this host, and when a coordinator may listen
/// beyond them.
final class ExposureTests: XCTestCase {
    func testLoopbackClassification() {
        let local = [
            "tcp://127.0.0.1:5555", "tcp://127.0.0.2:0", "tcp://localhost:1", "tcp://[::1]:5555",
            "ipc:///tmp/x.sock", "inproc://a",
        ]
        let reachable = [
            "tcp://*:5555", "tcp://0.0.0.0:5555", "tcp://10.0.0.1:5555", "tcp://[::]:5555",
            "tcp://128.0.0.1:5555", "udp://127.0.0.1:5555", "127.0.0.1:5555", "tcp://host",
        ]
        for e in local { XCTAssertTrue(Exposure.isLoopback(e), e) }
        for e in reachable { XCTAssertFalse(Exposure.isLoopback(e), e) }
    }

    func testLocalRunStaysOnLoopback() throws {
        XCTAssertNoThrow(try Exposure.checkLocal(bind: "tcp://127.0.0.1:0"))
        XCTAssertThrowsError(try Exposure.checkLocal(bind: "tcp://*:0")) { error in
            XCTAssertEqual(error as? RunSettingError, .localRunNotLoopback(endpoint: "tcp://*:0"))
        }
    }

    func testCoordinatorNeedsKeysOrInsecureBeyondLoopback() throws {
        let binds = ["tcp://127.0.0.1:5555", "tcp://*:5556"]
        XCTAssertThrowsError(try Exposure.checkCoordinator(binds: binds, keyed: false, insecure: false)) { error in
            XCTAssertEqual(error as? RunSettingError, .exposedWithoutKeys(endpoint: "tcp://*:5556"))
        }
        XCTAssertNoThrow(try Exposure.checkCoordinator(binds: binds, keyed: true, insecure: false))
        XCTAssertNoThrow(try Exposure.checkCoordinator(binds: binds, keyed: false, insecure: true))
        XCTAssertNoThrow(
            try Exposure.checkCoordinator(
                binds: ["tcp://127.0.0.1:1", "ipc:///tmp/d"], keyed: false,
                insecure: false))
        XCTAssertEqual(Exposure.defaultBind(keyed: false, insecure: false), "tcp://127.0.0.1:5555")
        XCTAssertEqual(Exposure.defaultBind(keyed: true, insecure: false), "tcp://*:5555")
        XCTAssertEqual(Exposure.defaultBind(keyed: false, insecure: true), "tcp://*:5555")
    }

    /// The library's own wording never quotes a command-line flag (front ends add their flag names).
    func testLibraryDescriptionsNameNoFlags() {
        let errors: [RunSettingError] = [
            .conflicting(.overwrite, .resume), .needs(.features, value: "classifier", requires: .reference),
            .wholeRunOnly(.exportNPZ), .belowOne(.imagesPerPrompt, value: 0), .limitBelowOne, .auditFraction(2),
            .progressInterval(0), .unknownFeatureSpace("x"), .classifierMissing(features: "classifier", path: "/x"),
            .classifierInput(expected: 784, got: 3), .localRunNotLoopback(endpoint: "tcp://*:0"),
            .exposedWithoutKeys(endpoint: "tcp://*:1"), .keysIncomplete,
        ]
        for e in errors { XCTAssertFalse(e.description.contains("--"), e.description) }
    }
}
