import Foundation
import XCTest

/// Only the CLI knows flag names: no string literal in a library target (every `Sources/` target but `flowturbo`,
/// generated `.pb.swift` excluded) contains a flag such as `--resume`. A library names a setting as a typed
/// `Setting` inside its `FlowError`, and the CLI spells it.
final class LibraryFlagNamesTests: XCTestCase {
    /// Literals that are argv, not messages: `flowturbo run` spawning its local `flowturbo worker` children.
    static let argv: Set<String> = [
        "FlowCluster/WorkerProcesses.swift: --id", "FlowCluster/WorkerProcesses.swift: --parent-pid",
    ]

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func flags(in text: String) -> [String] {
        let re = try! NSRegularExpression(pattern: "(?<![-\\w])--[A-Za-z][A-Za-z0-9-]*")
        let ns = text as NSString
        return re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range) }
    }

    /// Every flag-like literal of `source`, as `line: literal`.
    static func offenders(_ source: String, file: String) -> [String] {
        SwiftLiterals.scan(source).compactMap { lit in
            guard !flags(in: lit.text).isEmpty, !argv.contains("\(file): \(lit.text)") else { return nil }
            return "\(file):\(lit.line): \"\(lit.text)\""
        }
    }

    func testNoLibraryStringLiteralNamesAFlag() throws {
        let sources = Self.root.appendingPathComponent("Sources")
        let fm = FileManager.default
        var scanned = 0
        var offenders: [String] = []
        for target in try fm.contentsOfDirectory(atPath: sources.path).sorted() where target != "flowturbo" {
            let dir = sources.appendingPathComponent(target)
            guard let files = fm.enumerator(atPath: dir.path) else { continue }
            for case let f as String in files where f.hasSuffix(".swift") && !f.hasSuffix(".pb.swift") {
                let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
                offenders += Self.offenders(text, file: "\(target)/\(f)")
                scanned += 1
            }
        }
        XCTAssertGreaterThan(scanned, 100, "found too few library sources under \(sources.path)")
        XCTAssertTrue(
            offenders.isEmpty,
            "library messages must name settings as `\\(.setting)` in a FlowError (or `\\(Setting.x)` in text), "
                + "never as flags:\n" + offenders.joined(separator: "\n"))
    }

    /// The scanner itself: flags in comments are allowed, flags in any kind of literal are found.
    func testScannerFindsFlagsInLiteralsOnly() {
        let source = #"""
            /// Pass --resume (a doc comment may name flags).
            // --overwrite in a comment /* nested --x */
            let a = "plain -- text, ----- BEGIN, a-b--c"
            let b = "with \(x ? "--nested" : "y") interpolation"
            let c = """
                multi
                line --multi
                """
            let d = #"raw \("quote") --raw"#
            let e = "escaped \" --escaped"
            let f = ["--id"]
            """#
        let found = Self.offenders(source, file: "FlowCluster/WorkerProcesses.swift")
        XCTAssertEqual(found.count, 4, found.joined(separator: "\n"))
        XCTAssertEqual(found.map { Self.flags(in: $0) }, [["--nested"], ["--multi"], ["--raw"], ["--escaped"]])
        XCTAssertEqual(Self.offenders(#"let f = ["--id"]"#, file: "FlowCluster/Other.swift").count, 1)
    }
}
