import FlowTensor
import Foundation

/// Image-folder exports of a verified run (pixels as `RunExport.pixel`), built in a `StagedDirectory`.
extension RunExport {
    /// Writes one PNG per sample, `DIR/%06d.png` by sample index (gray for 1-channel runs, RGB for 3). Returns N.
    @discardableResult
    public static func writePNGFolder(outDir: String, path: String) throws -> Int {
        let src = try open(outDir: outDir)
        let g = src.geometry
        let stage = try StagedDirectory(path: path)
        do {
            var image = [UInt8](repeating: 0, count: g.height * g.width * g.channels)
            try forEachShard(src) { shard in
                for j in 0..<shard.count {
                    pixels(shard, sample: j, geometry: g, outChannels: g.channels, into: &image)
                    let png = PNG.encode(width: g.width, height: g.height, channels: g.channels, pixels: image)
                    try stage.write(String(format: "%06d.png", shard.first + j), png)
                }
            }
            try stage.commit()
        } catch {
            stage.discard()
            throw error
        }
        return src.samples
    }

    /// Writes GenEval's layout for a prompt run: per prompt p, `DIR/%05d/metadata.jsonl` (one JSON object: the
    /// prompt line's original fields from `prompts.jsonl` plus `prompt`) and `DIR/%05d/samples/%04d.png` for
    /// each of its K images. Class-conditional runs are refused. Returns N.
    @discardableResult
    public static func writeGenEval(outDir: String, path: String) throws -> Int {
        let src = try open(outDir: outDir)
        guard RunIntegrity.isPromptRun(src.check.header) else {
            throw FlowError(
                "\(outDir): a class-conditional run has no prompts, so it has no GenEval layout; "
                    + "export it as adm-npz or png")
        }
        let k = src.check.header.imagesPerPrompt ?? 1
        let metadata = try genEvalMetadata(outDir: outDir, samples: src.samples, imagesPerPrompt: k)
        let g = src.geometry
        let stage = try StagedDirectory(path: path)
        do {
            var image = [UInt8](repeating: 0, count: g.height * g.width * g.channels)
            try forEachShard(src) { shard in
                for j in 0..<shard.count {
                    let i = shard.first + j
                    let folder = String(format: "%05d", i / k)
                    if i % k == 0 {
                        try stage.makeDirectory(folder)
                        try stage.makeDirectory(folder + "/samples")
                        try stage.write(folder + "/metadata.jsonl", metadata[i / k])
                    }
                    pixels(shard, sample: j, geometry: g, outChannels: g.channels, into: &image)
                    let png = PNG.encode(width: g.width, height: g.height, channels: g.channels, pixels: image)
                    try stage.write(folder + "/samples/" + String(format: "%04d.png", i % k), png)
                }
            }
            try stage.commit()
        } catch {
            stage.discard()
            throw error
        }
        return src.samples
    }

    /// One `metadata.jsonl` line per prompt from `prompts.jsonl`: its `fields` (values that are JSON arrays or
    /// objects — GenEval's `include`/`exclude` — decoded back, others as the strings they are) plus `prompt`.
    static func genEvalMetadata(outDir: String, samples: Int, imagesPerPrompt k: Int) throws -> [[UInt8]] {
        let path = outDir + "/" + PromptIndex.fileName
        guard FileIO.exists(path) else {
            throw FlowError("\(path) is missing; the prompt run directory is incomplete — run it again")
        }
        let text = String(decoding: try FileIO.read(path), as: UTF8.self)
        let lines = text.split(separator: "\n")
        guard lines.count == samples else {
            throw FlowError("\(path): \(lines.count) lines for \(samples) samples; run it again to rewrite it")
        }
        var out: [[UInt8]] = []
        for (n, line) in lines.enumerated() where n % k == 0 {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                let p = o["prompt_index"] as? Int, p == n / k, let prompt = o["prompt"] as? String
            else {
                throw FlowError("\(path):\(n + 1): not the prompt line of sample \(n); run it again to rewrite it")
            }
            var meta: [String: Any] = [:]
            for (key, value) in (o["fields"] as? [String: String]) ?? [:] {
                meta[key] = decodedField(value)
            }
            meta["prompt"] = prompt
            let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
            out.append(Array(try JSONSerialization.data(withJSONObject: meta, options: options)) + [0x0A])
        }
        return out
    }

    /// A `fields` value as GenEval wrote it: JSON arrays and objects decoded, anything else the string itself.
    static func decodedField(_ s: String) -> Any {
        guard let c = s.first, c == "[" || c == "{",
            let v = try? JSONSerialization.jsonObject(with: Data(s.utf8))
        else { return s }
        return v
    }
}
