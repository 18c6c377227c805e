import FlowTensor
import Foundation

/// `prompts.jsonl` of a prompt run: one JSON object a line per sample index i, in index order, mapping it to
/// its prompt: `index` (i), `prompt_index` (p = i / K, the sample's label), `k` (i mod K), `id`, `prompt` (the
/// text; also under `text`), `category` when the prompt file has one, and `fields` (the prompt line's other fields).
public enum PromptIndex {
    public static let fileName = "prompts.jsonl"

    /// The file's bytes for a prompt set (deterministic: sorted keys).
    public static func bytes(_ set: EvalSet) throws -> [UInt8] {
        var out: [UInt8] = []
        let k = set.imagesPerPrompt
        for i in 0..<set.samples {
            let e = set.promptEntries[i / k]
            var obj: [String: Any] = [
                "index": i, "prompt_index": i / k, "k": i % k, "id": e.id, "prompt": e.text,
                "text": e.text,
            ]
            if let c = e.category { obj["category"] = c }
            if !e.fields.isEmpty { obj["fields"] = e.fields }
            let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
            out += Array(try JSONSerialization.data(withJSONObject: obj, options: options))
            out.append(0x0A)
        }
        return out
    }

    /// Writes `<outDir>/prompts.jsonl` atomically with mode 0600.
    public static func write(outDir: String, evalSet: EvalSet) throws {
        try PrivateFiles.write(outDir + "/" + fileName, try bytes(evalSet))
    }

    /// One line of the file, as the report reads it back.
    public struct Row {
        public var promptIndex: Int
        public var id: String
        public var category: String?
    }

    /// Reads the rows of `<outDir>/prompts.jsonl`; nil when the run has none (class-conditional).
    public static func read(outDir: String) throws -> [Row]? {
        let path = outDir + "/" + fileName
        guard FileIO.exists(path) else { return nil }
        var rows: [Row] = []
        let text = String(decoding: try FileIO.read(path), as: UTF8.self)
        for (n, line) in text.split(separator: "\n").enumerated() {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                let p = o["prompt_index"] as? Int, let id = o["id"] as? String
            else {
                throw FlowError("\(path):\(n + 1): not a prompt index line; rerun without \(.resume) to rewrite it")
            }
            rows.append(Row(promptIndex: p, id: id, category: o["category"] as? String))
        }
        return rows
    }

    /// Per-category counts of a prompt run: category → (samples, prompts); nil when no prompt has a category.
    public static func categories(_ rows: [Row]) -> [String: (samples: Int, prompts: Int)]? {
        guard rows.contains(where: { $0.category != nil }) else { return nil }
        var samples: [String: Int] = [:]
        var prompts: [String: Set<Int>] = [:]
        for r in rows {
            let c = r.category ?? "(none)"
            samples[c, default: 0] += 1
            prompts[c, default: []].insert(r.promptIndex)
        }
        var out: [String: (samples: Int, prompts: Int)] = [:]
        for (c, n) in samples { out[c] = (n, prompts[c]?.count ?? 0) }
        return out
    }

    /// The report's prompt section of a prompt run: JSON keys `prompts`, `images_per_prompt` and `per_category`
    /// ({category: {`samples`, `prompts`}}, when the prompt file has a category column) and a Markdown section;
    /// nil for class-conditional runs.
    public static func reportSection(
        outDir: String, header: RunHeader
    ) throws
        -> (json: [String: Any], markdown: String)?
    {
        guard RunIntegrity.isPromptRun(header), let rows = try read(outDir: outDir) else { return nil }
        let k = header.imagesPerPrompt ?? 1
        var json: [String: Any] = ["prompts": Set(rows.map(\.promptIndex)).count, "images_per_prompt": k]
        var md =
            "\n## Prompts\n\n\(json["prompts"]!) prompts × \(k) images = \(rows.count) samples "
            + "(sample i = prompt i / \(k), image i mod \(k); `prompts.jsonl`)\n"
        if let cats = categories(rows) {
            var section: [String: Any] = [:]
            md += "\n| category | prompts | samples |\n|---|---|---|\n"
            for (c, v) in cats.sorted(by: { $0.key < $1.key }) {
                section[c] = ["samples": v.samples, "prompts": v.prompts]
                md += "| \(c) | \(v.prompts) | \(v.samples) |\n"
            }
            json["per_category"] = section
        }
        return (json, md)
    }
}
