import ArgumentParser
import FlowCluster
import FlowTensor
import Foundation

/// `flowturbo verify DIR`: the checks `run --resume` makes before continuing, read-only.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a run directory read-only: every committed shard's path, latents CRC-32 and labels "
            + "against the journal.",
        discussion: """
            Exit status: 0 = every sample (of a `--part I/N` run: every shard of the part) is in an intact shard;
            1 = damaged or missing shards (rerun the run with --resume to compute them again, bit-identically);
            2 = no damage, but the run is not finished (shards still to compute, or committed shards still in the
            shard log after a crash: --resume restores those without computing them).
            """)

    @Argument(help: "Run directory (the --out of `flowturbo run` or `flowturbo coordinator`).")
    var dir: String?
    @Option(help: "Run directory (same as the argument).")
    var out: String?
    @Flag(
        help:
            "Print one JSON object (complete, samples, samples_intact, shards, intact_shards, pending_in_log, damaged)."
    )
    var json = false

    func validate() throws {
        guard (dir == nil) != (out == nil) else {
            throw FlowError(
                "verify: give the run directory once, as an "
                    + "argument or --out")
        }
        try RunDirectory.checkOut(dir ?? out!, name: "run directory")
    }

    func run() throws {
        let d = dir ?? out!
        guard FileIO.exists(RunDirectory.journalPath(d)) else {
            throw FlowError("\(d): no journal.log, so not a run directory (or the run never started)")
        }
        let r = try RunIntegrity.check(outDir: d)
        let busy = RunDirectory.isLockedByOther(d)
        if json {
            let obj: [String: Any] = [
                "complete": r.complete, "samples": r.header.samples, "samples_intact": r.samplesIntact,
                "shards": r.shardCount, "intact_shards": r.intact.count, "running": busy,
                "pending_in_log": r.pendingInLog.count,
                "damaged": r.damaged.map {
                    ["shard": $0.shard, "file": $0.file, "reason": $0.reason] as [String: Any]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for x in r.damaged { print("damaged  shard \(x.shard) (\(x.file)): \(x.reason)") }
            if !r.pendingInLog.isEmpty {
                print(
                    "pending  \(r.pendingInLog.count) committed shard(s) are still in the shard log (latents/*.wal), "
                        + (busy
                            ? "their files not written yet"
                            : "their files not written before the run stopped: "
                                + "rerun the same command with --resume to restore them (no recompute)"))
            }
            if busy { print("note: a run holds the lock on \(d) and is still writing") }
            print(
                "\(r.intact.count) of \(r.shardCount) shards intact, \(r.damaged.count) damaged; "
                    + "\(r.samplesIntact) of \(r.header.samples) samples verified"
                    + (r.header.part.map { "; part \($0) " + (r.complete ? "complete" : "not finished") } ?? ""))
        }
        if !r.damaged.isEmpty {
            let line =
                "error: \(r.damaged.count) damaged or missing shard(s) in \(d); "
                + "rerun the same command with --resume to compute them again\n"
            FileHandle.standardError.write(Data(line.utf8))
            throw ExitCode(1)
        }
        if !r.complete { throw ExitCode(2) }
    }
}
