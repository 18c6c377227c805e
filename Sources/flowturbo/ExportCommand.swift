import ArgumentParser
import FlowCluster
import FlowTensor
import Foundation

/// `flowturbo export RUN --format adm-npz|png|geneval --out PATH`: a verified run in the layouts evaluators read.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a finished run for external evaluators: ADM/DiT .npz, a PNG folder or GenEval's layout.",
        discussion: """
            adm-npz: one .npz with arr_0 uint8 (N, H, W, 3), 1-channel samples replicated, as ADM's evaluator and \
            DiT's create_npz_from_sample_folder use; streamed shard by shard, ZIP64 past 4 GiB.

            png: DIR/%06d.png by sample index (gray for 1 channel).

            geneval (prompt runs): DIR/%05d/metadata.jsonl + DIR/%05d/samples/%04d.png per prompt.

            Pixels: uint8 = trunc(clamp(127.5 x + 128, 0, 255)) in float32, as DiT's sample.py.

            Only complete runs whose every shard verifies are exported (see `flowturbo verify`); outputs appear \
            atomically (temp name, fsync, rename). Also accepted: `export --format png RUN DIR`.
            """)

    @Option(help: "adm-npz, png or geneval.")
    var format: RunExport.Format
    @Argument(help: "Run directory, then optionally the output (same as --out).")
    var paths: [String] = []
    @Option(help: "Output: the .npz file (adm-npz) or the directory to create (png, geneval).")
    var out: String?

    func validate() throws {
        guard paths.count == 1 || (paths.count == 2 && out == nil) else {
            throw ValidationError("give the run directory and the output once each: RUN --out PATH (or RUN PATH)")
        }
        guard (out ?? (paths.count == 2 ? paths[1] : nil)) != nil else {
            throw ValidationError("missing output: add --out PATH (an .npz file or a directory to create)")
        }
        try RunDirectory.checkOut(paths[0], name: "run directory")
    }

    func run() throws {
        let dir = paths[0]
        let target = out ?? paths[1]
        let n: Int
        switch format {
        case .admNPZ: n = try RunExport.writeADMNPZ(outDir: dir, path: target)
        case .png: n = try RunExport.writePNGFolder(outDir: dir, path: target)
        case .geneval: n = try RunExport.writeGenEval(outDir: dir, path: target)
        }
        print("exported \(n) samples of \(dir) as \(format.rawValue) to \(target)")
    }
}
