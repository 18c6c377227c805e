import FlowTensor
import XCTest

/// `FlowError` keeps the settings it names as typed parts: each front end spells them, the library's own wording
/// names no flag, and wrapping an error in another keeps them typed.
final class FlowErrorSettingsTests: XCTestCase {
    /// A front end's spelling, written out here (the CLI's table lives in the executable).
    static func flag(_ s: Setting) -> String {
        ["resume": "--resume", "overwrite": "--overwrite", "out": "--out", "maxShardMB": "--max-shard-mb"][s.rawValue]!
    }

    func testSettingsStayTypedAndRenderPerFrontEnd() {
        let e = FlowError("run.log exists; pass \(.resume) to continue it, or choose another \(.out)")
        XCTAssertEqual(e.settings, [.resume, .out])
        XCTAssertEqual(
            e.parts,
            [
                .text("run.log exists; pass "), .setting(.resume), .text(" to continue it, or choose another "),
                .setting(.out),
            ])
        XCTAssertEqual(
            e.rendered(naming: Self.flag), "run.log exists; pass --resume to continue it, or choose another --out")
        XCTAssertEqual(e.message, "run.log exists; pass 'resume' to continue it, or choose another 'out'")
        XCTAssertEqual(e.description, e.message)
    }

    func testConcatenationAndWrappingKeepSettings() {
        let n = 3
        let long = FlowError("shard \(n) is " + "too big; raise \(.maxShardMB)" + " or lower it")
        XCTAssertEqual(long.rendered(naming: Self.flag), "shard 3 is too big; raise --max-shard-mb or lower it")
        let inner: Error = FlowError("journal append failed; free space and \(.resume)")
        let outer = FlowError("coordinator: \(inner) (\(n) shards pending)")
        XCTAssertEqual(outer.settings, [.resume])
        XCTAssertEqual(
            outer.rendered(naming: Self.flag),
            "coordinator: journal append failed; free space and --resume (3 shards pending)")
        // Text parts merge, so equality does not depend on how a message was split over source lines.
        XCTAssertEqual(FlowError("a \(n)" + " b"), FlowError("a 3 b"))
        XCTAssertEqual(FlowError("a" + " \(.out)"), FlowError("a \(.out)"))
        XCTAssertNotEqual(FlowError("a \(.out)"), FlowError("a 'out'"))
        let text = "built as a String --not-a-setting"
        XCTAssertEqual(FlowError(text).parts, [.text(text)])
    }

    func testNeutralNamesNameNoFlagAndAreDistinct() {
        let names = Setting.allCases.map(Setting.neutralName)
        XCTAssertEqual(Set(names).count, Setting.allCases.count)
        for n in names { XCTAssertFalse(n.contains("-"), n) }
    }
}
