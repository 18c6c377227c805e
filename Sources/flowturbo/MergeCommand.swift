import ArgumentParser
import FlowApp
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
        let spec = RunApplication.mergedSpec(header: merged.header, out: out)
        FileHandle.standardError.write(
            Data(
                ("merge: \(parts.count) parts, \(merged.summary.shards) shards "
                    + "(\(merged.linked) files hard-linked, \(merged.copied) copied) into \(out)\n").utf8))
        // Report settings as `run` takes them, so the report applies the same defaults.
        let finish = try RunApplication.finish(
            spec: spec, summary: merged.summary, workers: merged.workers,
            report: ReportRequest(reference: reference, features: features),
            exportNPZ: exportNpz)
        printFinish(finish, outDir: out)
    }
}
