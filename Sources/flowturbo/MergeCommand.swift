import ArgumentParser
import FlowCluster
import FlowModels
import FlowTensor
import Foundation

/// `flowturbo merge DIR… --out D`: one run directory from the parts of a coordinator-free run (`run --part I/N`).
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge the run directories of `flowturbo run --part I/N` into one run directory with one report.",
        discussion: """
        Checks that the parts share one configuration (run header and model digests), that every shard is in \
        exactly one part (gaps and overlaps are named) and that every shard file is intact; then hard-links the \
        shard files into --out (copies across filesystems), writes the whole run's journal and manifest, and the \
        report (workers = sum over parts, wall time = the longest part, latency histograms merged).
        """)

    @Argument(help: "Run directories of the parts (the --out of each `flowturbo run --part I/N`).")
    var parts: [String] = []
    @Option(help: "Merged run directory (must not hold a run).")
    var out: String
    @Flag(help: "Also write samples.npz (arr_0 = samples, labels).")
    var exportNpz = false
    @Option(help: "Reference statistics for the report's FD/PRDC/KID/SWD (as for `flowturbo run`; `none` = off).")
    var reference: String?
    @Option(help: "Metric space of --reference (as for `flowturbo run`).")
    var features = "raw"

    func run() throws {
        let merged = try RunMerge.merge(parts, into: out)
        let h = merged.header
        // Report options as `run` parses them, so the report applies the same defaults.
        let args = ["--out", out, "--features", features] + (reference.map { ["--reference", $0] } ?? [])
        let opts = try ClusterRunOptions.parse(args)
        let predictor = h.models.first { $0.hasPrefix("predictor=") } ?? h.models.first ?? ""
        let modelSpec = String(predictor.drop { $0 != "=" }.dropFirst().prefix { $0 != "@" })
        var spec = RunSpec(model: modelSpec, refiner: nil, plan: h.plan, outDir: out)
        spec.samples = h.samples
        spec.promptFile = RunIntegrity.isPromptRun(h) ? out + "/prompts.jsonl" : nil
        FileHandle.standardError.write(Data(("merge: \(parts.count) parts, \(merged.summary.shards) shards "
            + "(\(merged.linked) files hard-linked, \(merged.copied) copied) into \(out)\n").utf8))
        try finishRun(outDir: out, summary: merged.summary, workers: merged.workers, exportNPZ: exportNpz,
                      options: opts, spec: spec)
    }
}
