import FlowTensor
import FlowText
import XCTest

/// Prompt files: each format, format detection, and every one-line error with its file:line.
final class PromptSetTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        let tmp = FileManager.default.temporaryDirectory
        dir = tmp.appendingPathComponent("promptset-\(getpid())-\(name.hashValue)").path
        try FileIO.makeDirectories(dir)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ text: String) throws -> String {
        let p = dir + "/" + name
        try FileIO.writeAtomically(p, Array(text.utf8))
        return p
    }

    func assertError(
        _ name: String, _ text: String, contains: [String],
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let p = try write(name, text)
        XCTAssertThrowsError(try PromptSet.load(p), file: file, line: line) { e in
            let m = "\(e)"
            XCTAssertFalse(m.contains("\n"), m, file: file, line: line)
            for c in contains { XCTAssertTrue(m.contains(c), "\(m) lacks \(c)", file: file, line: line) }
        }
    }

    func testPlainTextSkipsBlankLinesAndIdsAreIndices() throws {
        let p = try write("p.txt", "\u{FEFF}a red fox\n\n   \n  two words \r\nthird\n")
        let e = try PromptSet.load(p)
        XCTAssertEqual(e.map(\.text), ["a red fox", "two words", "third"])
        XCTAssertEqual(e.map(\.id), ["0", "1", "2"])
        XCTAssertEqual(e.map(\.line), [1, 4, 5])
        XCTAssertEqual(e.map(\.category), [nil, nil, nil])
    }

    func testGenEvalJSONLKeepsFieldsAndTagIsCategory() throws {
        let text = """
            {"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"}

            {"id": "x7", "tag": "counting", "prompt": "a photo of two cats", "exclude": null, "n": 2, "ok": true}
            """
        let e = try PromptSet.load(try write("evaluation_metadata.jsonl", text))
        XCTAssertEqual(e.count, 2)
        XCTAssertEqual(
            e[0],
            PromptEntry(
                id: "0", text: "a photo of a bench", category: "single_object",
                fields: [
                    "tag": "single_object",
                    "include": "[{\"class\":\"bench\",\"count\":1}]",
                ],
                line: 1))
        XCTAssertEqual(e[1].id, "x7")
        XCTAssertEqual(e[1].category, "counting")
        XCTAssertEqual(e[1].fields, ["tag": "counting", "exclude": "null", "n": "2", "ok": "true"])
        XCTAssertEqual(e[1].line, 3)
    }

    func testPartiTSVWithCategory() throws {
        let text =
            "Prompt\tCategory\tChallenge\tNote\nA \"quoted\" sign\tArts\tBasic\t\n\n"
            + "bird, flying\tAnimals\tPerspective\tnote\n"
        let e = try PromptSet.load(try write("PartiPrompts.tsv", text))
        XCTAssertEqual(e.map(\.text), ["A \"quoted\" sign", "bird, flying"])
        XCTAssertEqual(e.map(\.category), ["Arts", "Animals"])
        XCTAssertEqual(e[1].fields, ["Category": "Animals", "Challenge": "Perspective", "Note": "note"])
        XCTAssertEqual(e.map(\.line), [2, 4])
        XCTAssertEqual(e.map(\.id), ["0", "1"])
    }

    func testDrawBenchCSVWithRFC4180Quoting() throws {
        let text =
            "Prompts,Category\r\n\"A sign that says \"\"Hello\"\", with a comma\",Text\r\n"
            + "plain prompt,Colors\r\n"
            + "\"two\nlines\",Misc\n\"\",\n"
        let p = try write("drawbench.csv", text)
        XCTAssertThrowsError(try PromptSet.load(p)) {
            XCTAssertTrue("\($0)".contains("drawbench.csv:6: empty prompt"), "\($0)")
        }
        let ok = try write("db.csv", String(text.dropLast(4)))
        let e = try PromptSet.load(ok)
        XCTAssertEqual(e.map(\.text), ["A sign that says \"Hello\", with a comma", "plain prompt", "two\nlines"])
        XCTAssertEqual(e.map(\.category), ["Text", "Colors", "Misc"])
        XCTAssertEqual(e.map(\.line), [2, 3, 4])
    }

    func testIdColumnAndContentDetection() throws {
        let csv = try write("noext", "id,caption,extra\nA1,a cat,x\nB2,a dog,y\n")
        XCTAssertEqual(PromptSet.detect(path: csv, text: "id,caption,extra\n"), .csv)
        let e = try PromptSet.load(csv)
        XCTAssertEqual(e.map(\.id), ["A1", "B2"])
        XCTAssertEqual(e[0].fields, ["extra": "x"])
        XCTAssertEqual(PromptSet.detect(path: "x", text: "\n{\"prompt\": \"a\"}\n"), .jsonl)
        XCTAssertEqual(PromptSet.detect(path: "x", text: "text\tcategory\n"), .tsv)
        XCTAssertEqual(PromptSet.detect(path: "x", text: "a cat, sitting\n"), .text)
        XCTAssertEqual(PromptSet.detect(path: "p.txt", text: "{\"prompt\": \"a\"}"), .text)
    }

    func testErrorsNameFileAndLine() throws {
        try assertError("a.jsonl", "{\"prompt\": \"ok\"}\n{not json}\n", contains: ["a.jsonl:2:", "JSON object"])
        try assertError(
            "b.jsonl", "{\"prompt\": \"ok\"}\n\n{\"caption_x\": \"no\"}\n",
            contains: ["b.jsonl:3:", "\"prompt\""])
        try assertError("c.jsonl", "{\"prompt\": 5}\n", contains: ["c.jsonl:1:", "not a string"])
        try assertError("d.csv", "prompt\n\"open\nstill open\n", contains: ["d.csv:2:", "unterminated"])
        try assertError("e.csv", "prompt,x\n\"a\"b,c\n", contains: ["e.csv:2:", "closing quote"])
        try assertError("f.csv", "prompt,x\na,b\nc,d,e\n", contains: ["f.csv:3:", "3 fields", "header has 2"])
        try assertError("g.tsv", "title\tCategory\nx\ty\n", contains: ["g.tsv:1:", "no prompt column"])
        try assertError("h.tsv", "Prompt\tCategory\n\tArts\n", contains: ["h.tsv:2:", "empty prompt"])
        try assertError("i.csv", "id,prompt\n7,a\n7,b\n", contains: ["i.csv:3:", "duplicate id \"7\"", "line 2"])
        try assertError("j.txt", "\n  \n", contains: ["j.txt", "no prompts"])
        try assertError("k.jsonl", "{\"prompt\": \"  \"}\n", contains: ["k.jsonl:1:", "empty prompt"])
        let bad = dir + "/l.txt"
        try FileIO.writeAtomically(bad, [0x61, 0xFF, 0x62])
        XCTAssertThrowsError(try PromptSet.load(bad)) { XCTAssertTrue("\($0)".contains("not UTF-8"), "\($0)") }
    }
}
