import FlowTensor
import FlowText
import XCTest

/// Sentence embeddings against the real sentence-transformers stack (Fixtures/embeddings.npy from the original run,
/// Fixtures/tricky_embeddings.npy from Scripts/minilm_golden.py), and batching/padding invariances.
final class EncoderTests: XCTestCase {
    static var shared: MiniLMEncoder?

    func encoder() throws -> MiniLMEncoder {
        try TextFixtures.skipUnlessEncoder()
        if let e = Self.shared { return e }
        let e = try MiniLMEncoder.load(directory: TextFixtures.encoderDirectory)
        Self.shared = e
        return e
    }

    func assertCosines(
        _ got: Tensor, _ want: NPYArray, min bound: Double,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let w = want.doubles()
        let d = 384
        XCTAssertEqual(got.shape, want.shape, file: file, line: line)
        for i in 0..<want.shape[0] {
            var dot = 0.0
            var ng = 0.0
            var nw = 0.0
            for j in 0..<d {
                let g = Double(got.data[i * d + j])
                let r = w[i * d + j]
                dot += g * r
                ng += g * g
                nw += r * r
            }
            let cos = dot / (ng * nw).squareRoot()
            XCTAssertGreaterThanOrEqual(cos, bound, "row \(i)", file: file, line: line)
            XCTAssertEqual(ng.squareRoot(), 1, accuracy: 1e-5, "row \(i) is not unit length", file: file, line: line)
        }
    }

    func testFixtureEmbeddingsMatchSentenceTransformers() throws {
        let enc = try encoder()
        let got = try enc.sentenceEmbeddings(prompts: try TextFixtures.prompts())
        assertCosines(got, try NPY.read(TextFixtures.path("embeddings.npy")), min: 0.99999)
    }

    /// Punctuation, dashes, accents, CJK, controls, emoji, special tokens, and prompts past 256 tokens.
    func testTrickyEmbeddingsMatchSentenceTransformers() throws {
        let enc = try encoder()
        let want = try NPY.read(TextFixtures.path("tricky_embeddings.npy"))
        let prompts = Array(try TextFixtures.json("tricky_prompts.json", as: [String].self).prefix(want.shape[0]))
        assertCosines(try enc.sentenceEmbeddings(prompts: prompts), want, min: 0.99999)
    }

    /// One batch of prompts of different lengths gives the same embeddings as one prompt at a time, and the padded
    /// features give the same pooled embedding; padding positions are 0 with mask 0.
    func testBatchedEqualsUnbatchedAndPaddingIsMasked() throws {
        let enc = try encoder()
        let prompts = try TextFixtures.prompts()
        let batched = try enc.sentenceEmbeddings(prompts: prompts)
        let padded = try enc.encode(prompts: prompts, padTo: 40)
        XCTAssertEqual(padded.features.shape, [prompts.count, 40, 384])
        let fromPadded = padded.sentenceEmbeddings()
        for (i, p) in prompts.enumerated() {
            let one = try enc.sentenceEmbeddings(prompts: [p])
            for j in 0..<384 {
                XCTAssertEqual(batched.data[i * 384 + j], one.data[j], accuracy: 2e-6)
                XCTAssertEqual(fromPadded.data[i * 384 + j], one.data[j], accuracy: 2e-6)
            }
            let n = padded.tokenIDs[i].count
            for t in 0..<40 {
                XCTAssertEqual(padded.mask.data[i * 40 + t], t < n ? 1 : 0)
                if t >= n { XCTAssertEqual(padded.features.data[(i * 40 + t) * 384], 0) }
            }
        }
        let longest = try enc.encode(prompts: prompts)
        XCTAssertEqual(longest.length, prompts.map { enc.tokenizer.encode($0, maxTokens: 256).count }.max())
    }

    /// A fixed padding length shorter than a prompt truncates it (keeping [SEP]); small chunks change nothing.
    func testPadToTruncatesAndChunkingIsInvisible() throws {
        let enc = try encoder()
        let prompts = try TextFixtures.prompts()
        let e = try enc.encode(prompts: prompts, padTo: 5)
        XCTAssertEqual(e.tokenIDs[1], enc.tokenizer.encode(prompts[1], maxTokens: 5))
        let full = try enc.sentenceEmbeddings(prompts: prompts)
        enc.chunkRows = 7
        defer { enc.chunkRows = 4096 }
        let chunked = try enc.sentenceEmbeddings(prompts: prompts)
        for k in 0..<full.count { XCTAssertEqual(full.data[k], chunked.data[k], accuracy: 2e-6) }
    }

    func testMissingEncoderIsOneLineErrorNamingTheScript() {
        XCTAssertThrowsError(try MiniLMEncoder.load(directory: "/nonexistent/minilm")) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("Scripts/fetch-minilm.sh"), m)
            XCTAssertFalse(m.contains("\n"))
        }
    }

    func testDigestChangesWithTheFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("minilm-digest-\(getpid())").path
        try FileIO.makeDirectories(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileIO.writeAtomically(dir + "/model.safetensors", Array("weights".utf8))
        try FileIO.writeAtomically(dir + "/vocab.txt", Array("[UNK]\n".utf8))
        let a = try MiniLMEncoder.digest(directory: dir)
        XCTAssertEqual(a.count, 64)
        try FileIO.writeAtomically(dir + "/vocab.txt", Array("[UNK]\nx\n".utf8))
        XCTAssertNotEqual(try MiniLMEncoder.digest(directory: dir), a)
    }
}
