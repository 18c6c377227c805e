import FlowTensor
import Foundation

/// One prompt of a prompt set: its id, text, optional category (per-category report sections) and every other
/// field of its line (JSON values that are not strings are kept as their JSON text).
public struct PromptEntry: Equatable, Sendable {
    public var id: String
    public var text: String
    public var category: String?
    public var fields: [String: String]
    /// 1-based line of the file where the prompt starts.
    public var line: Int

    public init(id: String, text: String, category: String? = nil, fields: [String: String] = [:], line: Int) {
        self.id = id
        self.text = text
        self.category = category
        self.fields = fields
        self.line = line
    }
}

/// Prompt files (format from the extension, else from the content):
///
/// - `text` (`.txt`, default): one prompt a line, surrounding whitespace trimmed.
/// - `jsonl` (`.jsonl`, `.json`, or a first line starting with `{`): one object a line with a string `prompt`
///   (or `text`, `caption`); optional `id`; `category` or `tag` (GenEval's `evaluation_metadata.jsonl`) is the
///   category.
/// - `tsv` (`.tsv`) / `csv` (`.csv`, RFC 4180 quoting): a header row naming a `Prompt`/`prompt`/`Prompts`/`text`/
///   `caption` column (case-insensitive; PartiPrompts `PartiPrompts.tsv`, DrawBench CSV); `id` column optional;
///   `Category`/`category`/`tag` column is the category.
///
/// Blank lines are skipped. Ids default to the prompt's 0-based index in the set. A malformed line, an empty
/// prompt, a duplicate id or a file without prompts is a one-line error `file:line: problem`.
public enum PromptSet {
    public enum Format: String, CaseIterable, Sendable {
        case text, jsonl, tsv, csv
    }

    static let promptKeys = ["prompt", "prompts", "text", "caption"]
    static let categoryKeys = ["category", "tag"]

    /// Reads and parses a prompt file.
    public static func load(_ path: String, format: Format? = nil) throws -> [PromptEntry] {
        let bytes = try FileIO.read(path)
        guard var text = String(validating: bytes, as: UTF8.self) else {
            throw FlowError("\(path): not UTF-8 text; save the prompt file as UTF-8")
        }
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        return try parse(text, source: path, format: format ?? detect(path: path, text: text))
    }

    /// The format a file is read as: by extension (.txt .jsonl .json .tsv .csv), else by its first non-blank line.
    public static func detect(path: String, text: String) -> Format {
        switch (path as NSString).pathExtension.lowercased() {
        case "txt": return .text
        case "jsonl", "json", "ndjson": return .jsonl
        case "tsv": return .tsv
        case "csv": return .csv
        default: break
        }
        let first =
            text.split(whereSeparator: \.isNewline)
            .first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(String.init) ?? ""
        if first.trimmingCharacters(in: .whitespaces).hasPrefix("{") { return .jsonl }
        for (format, sep) in [(Format.tsv, "\t"), (Format.csv, ",")] where first.contains(sep) {
            let cells = first.split(separator: Character(sep)).map {
                $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"\r")).lowercased()
            }
            if cells.contains(where: promptKeys.contains) { return format }
        }
        return .text
    }

    public static func parse(_ text: String, source: String, format: Format) throws -> [PromptEntry] {
        var entries: [PromptEntry]
        switch format {
        case .text: entries = plain(text)
        case .jsonl: entries = try jsonl(text, source: source)
        case .tsv: entries = try table(DelimitedText.tsv(text, source: source), source: source)
        case .csv: entries = try table(DelimitedText.csv(text, source: source), source: source)
        }
        guard !entries.isEmpty else {
            throw FlowError(
                "\(source): no prompts found; write one prompt a line, JSONL {\"prompt\": ...}, "
                    + "or a TSV/CSV with a prompt column")
        }
        var seen: [String: Int] = [:]
        for (i, e) in entries.enumerated() {
            if entries[i].id.isEmpty { entries[i].id = String(i) }
            if let other = seen[entries[i].id] {
                throw FlowError(
                    "\(source):\(e.line): duplicate id \"\(entries[i].id)\" (first on line \(other)); "
                        + "ids must be unique")
            }
            seen[entries[i].id] = e.line
        }
        return entries
    }

    static func plain(_ text: String) -> [PromptEntry] {
        var out: [PromptEntry] = []
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: isLineBreak).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if !line.isEmpty { out.append(PromptEntry(id: "", text: line, line: i + 1)) }
        }
        return out
    }

    static func jsonl(_ text: String, source: String) throws -> [PromptEntry] {
        var out: [PromptEntry] = []
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: isLineBreak).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let at = "\(source):\(i + 1)"
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                throw FlowError("\(at): not a JSON object; write one {\"prompt\": \"...\"} object a line")
            }
            var fields: [String: String] = [:]
            for (k, v) in obj { fields[k] = jsonText(v) }
            guard let key = promptKeys.first(where: { obj[$0] != nil }) else {
                throw FlowError(
                    "\(at): JSONL line without a \"prompt\" field; "
                        + "expected {\"id\": ..., \"prompt\": \"...\"}")
            }
            guard let prompt = obj[key] as? String else { throw FlowError("\(at): \"\(key)\" is not a string") }
            let textValue = prompt.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !textValue.isEmpty else { throw FlowError("\(at): empty prompt") }
            fields[key] = nil
            let id = fields.removeValue(forKey: "id") ?? ""
            let category = categoryKeys.lazy.compactMap { obj[$0] as? String }.first
            out.append(PromptEntry(id: id, text: textValue, category: category, fields: fields, line: i + 1))
        }
        return out
    }

    static func table(_ records: [DelimitedText.Record], source: String) throws -> [PromptEntry] {
        guard let header = records.first else { return [] }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        let lower = names.map { $0.lowercased() }
        guard let promptCol = promptKeys.lazy.compactMap({ lower.firstIndex(of: $0) }).first else {
            throw FlowError(
                "\(source):\(header.line): the header names no prompt column; name one "
                    + "Prompt, prompt, text or caption (found: \(names.joined(separator: ", ")))")
        }
        let idCol = lower.firstIndex(of: "id")
        let categoryCol = categoryKeys.lazy.compactMap { lower.firstIndex(of: $0) }.first
        var out: [PromptEntry] = []
        for r in records.dropFirst() {
            guard r.fields.count == names.count else {
                throw FlowError(
                    "\(source):\(r.line): \(r.fields.count) fields, the header has \(names.count); "
                        + "quote fields that contain the separator")
            }
            let textValue = r.fields[promptCol].trimmingCharacters(in: .whitespacesAndNewlines)
            guard !textValue.isEmpty else {
                throw FlowError("\(source):\(r.line): empty prompt in column \(names[promptCol])")
            }
            var fields: [String: String] = [:]
            for (k, v) in zip(names, r.fields) { fields[k] = v }
            fields[names[promptCol]] = nil
            var id = ""
            if let c = idCol { id = fields.removeValue(forKey: names[c]) ?? "" }
            let category = categoryCol.map { r.fields[$0] }.flatMap { $0.isEmpty ? nil : $0 }
            out.append(PromptEntry(id: id, text: textValue, category: category, fields: fields, line: r.line))
        }
        return out
    }

    /// A JSON value as text: strings as they are, everything else as compact JSON.
    static func jsonText(_ v: Any) -> String {
        if let s = v as? String { return s }
        if let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed]) {
            return String(decoding: d, as: UTF8.self)
        }
        return "\(v)"
    }
}
