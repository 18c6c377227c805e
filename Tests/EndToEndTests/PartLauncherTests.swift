import Foundation
import XCTest

/// The coordinator-free launchers (`Cluster/slurm/flowturbo-array.sbatch`, `Cluster/kubernetes/indexed-job.yaml`):
/// shell syntax, YAML, and that every `flowturbo run|merge` flag they use exists in the real binary's `--help`.
final class PartLauncherTests: XCTestCase {
    static let files = ["Cluster/slurm/flowturbo-array.sbatch", "Cluster/kubernetes/indexed-job.yaml"]

    func testArrayScriptPassesBashSyntaxCheck() throws {
        let (status, out) = try LauncherTests.run("/bin/bash", ["-n", LauncherTests.root + "/" + Self.files[0]])
        XCTAssertEqual(status, 0, out)
    }

    /// Flags following `flowturbo run` / `flowturbo merge` (also `"$FLOWTURBO" run`) up to the end of the command.
    static func invocations(_ text: String) throws -> [(String, [String])] {
        let joined = text.replacingOccurrences(of: "\\\n", with: " ")
        let cmd = try NSRegularExpression(pattern: #"(?:flowturbo|"\$FLOWTURBO") (run|merge) ([^\n]*)"#)
        let flag = try NSRegularExpression(pattern: #"(?<=\s)--[a-z][a-z0-9-]*"#)
        return cmd.matches(in: joined, range: NSRange(joined.startIndex..., in: joined)).map { m in
            let sub = String(joined[Range(m.range(at: 1), in: joined)!])
            let body = " " + String(joined[Range(m.range(at: 2), in: joined)!])
            let flags = flag.matches(in: body, range: NSRange(body.startIndex..., in: body))
                .map { String(body[Range($0.range, in: body)!]) }
            return (sub, flags)
        }
    }

    func testLauncherFlagsExistInFlowturboHelp() throws {
        guard let bin = LauncherTests.binary else { throw XCTSkip("flowturbo binary not built; run `swift build`") }
        var help: [String: String] = [:]
        for sub in ["run", "merge"] {
            let (status, text) = try LauncherTests.run(bin, [sub, "--help"])
            XCTAssertEqual(status, 0, text)
            help[sub] = text
        }
        var seen: Set<String> = []
        for file in Self.files {
            for (sub, flags) in try Self.invocations(try LauncherTests.text(file)) {
                seen.insert(sub)
                for f in flags {
                    XCTAssertTrue(
                        help[sub]!.contains(f + " ") || help[sub]!.contains(f + "\n"),
                        "\(file): `flowturbo \(sub) \(f)` is not a flag of the real binary")
                }
            }
        }
        XCTAssertEqual(seen, ["run", "merge"])
        XCTAssertTrue(try Self.invocations("flowturbo run --partt 0/3").first?.1 == ["--partt"])
    }

    func testIndexedJobParsesAndMapsTheCompletionIndexToThePart() throws {
        let path = LauncherTests.root + "/" + Self.files[1]
        let code = "import sys, json, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))"
        let (status, out) = try LauncherTests.run("/usr/bin/env", ["python3", "-c", code, path])
        guard status == 0 else { throw XCTSkip("PyYAML not available: \(out)") }
        let docs = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
        XCTAssertEqual(docs.count, 2)
        let spec = docs[0]["spec"] as! [String: Any]
        XCTAssertEqual(spec["completionMode"] as? String, "Indexed")
        let n = spec["completions"] as! Int
        XCTAssertEqual(spec["parallelism"] as? Int, n)
        let text = try LauncherTests.text(Self.files[1])
        XCTAssertTrue(text.contains("--part \"$JOB_COMPLETION_INDEX/$PARTS\""))
        XCTAssertEqual(
            text.components(separatedBy: "{name: PARTS, value: \"\(n)\"}").count - 1, 2,
            "PARTS must equal completions in both Jobs")
    }
}
