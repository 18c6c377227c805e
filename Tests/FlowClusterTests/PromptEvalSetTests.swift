import FlowTensor
import FlowText
import Foundation
import XCTest

@testable import FlowCluster

/// Prompt evaluation sets: prompt-major sample order with K images per prompt, labels = prompt index, the
/// assignments' per-sample prompts, prompts.jsonl, the journal header (K, encoder digest) and the labels check of a
/// prompt run's shards. Expected values are written out by hand from the definitions (i = p·K + k).
final class PromptEvalSetTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "prompt-set-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir + "/run/latents", withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        return dir + "/" + name
    }

    func testEveryFormatGivesPromptMajorSamplesLabelsAndShardPrompts() throws {
        let files = [
            try write("p.txt", "a cat\n\n  a dog  \na bird\n"),
            try write(
                "geneval.jsonl",
                "{\"tag\": \"single_object\", \"include\": [{\"class\": \"cat\"}], \"prompt\": \"a cat\"}\n"
                    + "{\"tag\": \"two_object\", \"prompt\": \"a dog\"}\n\n"
                    + "{\"tag\": \"two_object\", \"prompt\": \"a bird\"}\n"),
            try write(
                "PartiPrompts.tsv",
                "Prompt\tCategory\tChallenge\na cat\tAnimals\tBasic\na dog\tAnimals\tBasic\n"
                    + "a bird\tArts\tBasic\n"),
            try write("drawbench.csv", "Prompts,Category\na cat,Colors\n\"a dog\",Colors\na bird,Text\n"),
        ]
        for f in files {
            let e = try EvalSet(promptFile: f, imagesPerPrompt: 3, seed: 4)
            XCTAssertEqual(e.prompts, ["a cat", "a dog", "a bird"], f)
            XCTAssertEqual(e.samples, 9)
            XCTAssertEqual(e.labels(first: 0, count: 9), [0, 0, 0, 1, 1, 1, 2, 2, 2], f)
            XCTAssertEqual(e.samplePrompts(first: 2, count: 4), ["a cat", "a dog", "a dog", "a dog"])
            XCTAssertTrue(e.id.hasPrefix("prompts-3-k3-"), e.id)
            XCTAssertNotEqual(e.id, try EvalSet(promptFile: f, imagesPerPrompt: 1, seed: 4).id)
        }
        XCTAssertThrowsError(try EvalSet(promptFile: files[0], imagesPerPrompt: 0, seed: 0))
    }

    func testAssignmentsCarryOnePromptPerSampleAndThePromptIndexAsLabel() throws {
        let set = try EvalSet(promptFile: try write("p.txt", "a\nb\nc\n"), imagesPerPrompt: 2, seed: 1)
        let c = CoordinatorConfig(
            controlBind: "tcp://127.0.0.1:0", dataBind: "tcp://127.0.0.1:0", outDir: dir,
            evalSet: set, plan: "H2", batch: 2, shardSize: 4, models: [], sampleShape: [2])
        let shards = set.shards(shardSize: 4)
        XCTAssertEqual(shards, [0..<4, 4..<6])
        let book = LeaseBook()
        let a = c.assignment(
            shard: 1, range: shards[1], lease: book.issue(shard: 1, holder: [1], key: nil),
            now: Date())
        XCTAssertEqual(a.evalSet.prompts, ["c", "c"])
        XCTAssertEqual(a.labels, [2, 2])
        XCTAssertEqual(c.header.imagesPerPrompt, 2)
        var one = c
        one.evalSet = try EvalSet(promptFile: dir + "/p.txt", seed: 1)
        XCTAssertNil(one.header.imagesPerPrompt, "K = 1 is left out so journals written before the field resume")
    }

    func testPromptIndexMapsEachSampleToItsPrompt() throws {
        let f = try write(
            "g.jsonl",
            "{\"id\": \"x7\", \"tag\": \"colors\", \"prompt\": \"a red cube\", \"n\": 2}\n"
                + "{\"prompt\": \"a blue ball\"}\n")
        let set = try EvalSet(promptFile: f, imagesPerPrompt: 2, seed: 0)
        try PromptIndex.write(outDir: dir + "/run", evalSet: set)
        let path = dir + "/run/prompts.jsonl"
        XCTAssertEqual(PrivateFiles.mode(path).map { $0 & 0o777 }, 0o600)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.map { $0["index"] as? Int }, [0, 1, 2, 3])
        XCTAssertEqual(lines.map { $0["k"] as? Int }, [0, 1, 0, 1])
        XCTAssertEqual(lines.map { $0["prompt_index"] as? Int }, [0, 0, 1, 1])
        XCTAssertEqual(lines.map { $0["id"] as? String }, ["x7", "x7", "1", "1"])
        XCTAssertEqual(
            lines.map { $0["prompt"] as? String },
            ["a red cube", "a red cube", "a blue ball", "a blue ball"])
        XCTAssertEqual(lines[0]["category"] as? String, "colors")
        XCTAssertNil(lines[2]["category"])
        XCTAssertEqual((lines[0]["fields"] as? [String: String])?["n"], "2")
        let rows = try XCTUnwrap(try PromptIndex.read(outDir: dir + "/run"))
        let cats = try XCTUnwrap(PromptIndex.categories(rows))
        XCTAssertEqual(cats["colors"]?.samples, 2)
        XCTAssertEqual(cats["(none)"]?.prompts, 1)
    }

    /// A prompt run's labels files must hold the prompt index i / K (checked like class labels), not just any int32.
    func testIntegrityChecksPromptLabelsAndResumeRefusesAnotherEncoder() throws {
        let run = dir + "/run"
        let set = try EvalSet(promptFile: try write("p.txt", "a\nb\nc\n"), imagesPerPrompt: 2, seed: 3)
        let header = RunHeader(
            evalSetId: set.id, samples: 6, classes: 0, labelMode: "balanced", seed: 3, plan: "H2",
            guidanceScale: 2, guidanceChannels: 0, batch: 2, shardSize: 2,
            models: ["predictor=m@1", "text_encoder=minilm@aa"], imagesPerPrompt: 2)
        var commits: [ShardCommit] = []
        for s in 0..<3 {
            let npy = [Float](repeating: Float(s), count: 4).withUnsafeBytes {
                NPY.encode(dtype: .float32, shape: [2, 2], body: $0)
            }
            let file = String(format: "latents/shard-%06d.npy", s)
            try FileIO.writeAtomically(run + "/" + file, npy)
            let labels: [Int32] = [Int32(s), Int32(s)]  // samples 2s, 2s+1 show prompt s
            try FileIO.writeAtomically(
                run + "/" + RunIntegrity.labelsFile(shard: s),
                labels.withUnsafeBytes { NPY.encode(dtype: .int32, shape: [2], body: $0) })
            commits.append(
                ShardCommit(
                    shard: s, first: 2 * s, count: 2, file: file, checksum: CRC32.hex(npy),
                    worker: "w"))
        }
        try Journal.rewrite(run + "/journal.log", header: header, commits: commits)
        XCTAssertTrue(try RunIntegrity.check(outDir: run).complete)
        // Class-style labels i mod 2 are well-formed int32 but not this run's: shard 1 is damaged.
        let wrong: [Int32] = [0, 1]
        try FileIO.writeAtomically(
            run + "/" + RunIntegrity.labelsFile(shard: 1),
            wrong.withUnsafeBytes { NPY.encode(dtype: .int32, shape: [2], body: $0) })
        XCTAssertEqual(try RunIntegrity.check(outDir: run).damaged.map(\.shard), [1])

        var other = header
        other.models[1] = "text_encoder=minilm@bb"
        XCTAssertThrowsError(try Journal.resume(run + "/journal.log", expected: other)) {
            XCTAssertTrue("\($0)".contains("text_encoder=minilm@aa"), "\($0)")
        }
        var k1 = header
        k1.imagesPerPrompt = nil
        XCTAssertThrowsError(try Journal.resume(run + "/journal.log", expected: k1)) {
            XCTAssertTrue("\($0)".contains("imagesPerPrompt"), "\($0)")
        }
    }

    /// A header written before `imagesPerPrompt` existed decodes with nil and resumes as K = 1.
    func testOldHeaderWithoutImagesPerPromptDecodes() throws {
        let json =
            "{\"batch\":2,\"classes\":0,\"evalSetId\":\"prompts-3-abc-s0\",\"guidanceChannels\":0,"
            + "\"guidanceScale\":1,\"labelMode\":\"balanced\",\"models\":[\"predictor=m@1\"],\"plan\":\"H2\","
            + "\"samples\":3,\"seed\":0,\"shardSize\":2,\"version\":1}"
        let h = try JSONDecoder().decode(RunHeader.self, from: Data(json.utf8))
        XCTAssertNil(h.imagesPerPrompt)
        XCTAssertEqual(RunIntegrity.expectedLabels(of: h)?(0..<3), [0, 1, 2])
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        XCTAssertEqual(String(decoding: try enc.encode(h), as: UTF8.self), json, "nil K is not written")
    }
}
