import FlowTensor
import FlowText
import Foundation
import XCTest

/// Paths of the committed fixtures and of the fetched encoder (Models/minilm, from Scripts/fetch-minilm.sh).
enum TextFixtures {
    static var directory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    }

    static func path(_ name: String) -> String { directory + "/" + name }

    /// Models/minilm of this repository (or $FLOWTURBO_MODELS/minilm).
    static var encoderDirectory: String { MiniLMEncoder.defaultDirectory }

    static func skipUnlessEncoder(_ files: [String] = ["vocab.txt", "model.safetensors"]) throws {
        for f in files where !FileIO.exists(encoderDirectory + "/" + f) {
            throw XCTSkip(
                "\(encoderDirectory)/\(f) is missing: run Scripts/fetch-minilm.sh "
                    + "(Scripts/install-deps.sh does)")
        }
    }

    static func tokenizer() throws -> BertTokenizer {
        try skipUnlessEncoder(["vocab.txt"])
        return try BertTokenizer.load(vocabularyPath: encoderDirectory + "/vocab.txt")
    }

    static func json<T: Decodable>(_ name: String, as: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(FileIO.read(path(name))))
    }

    /// The fixture prompts of the original implementation (one a line).
    static func prompts() throws -> [String] {
        let text = String(decoding: try FileIO.read(path("prompts.txt")), as: UTF8.self)
        return text.split(separator: "\n").map(String.init)
    }
}
