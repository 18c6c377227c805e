import ArgumentParser
import FlowApp
import FlowCluster
import FlowTensor

/// The `flowturbo` command line: thin subcommands over the libraries.
struct Flowturbo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowturbo",
        abstract: "Fast FlowTurbo sampling of flow-matching generators, sharded over ZeroMQ.",
        subcommands: CommandRegistry.all)
}

// Library messages name settings as typed values; this CLI spells them as its flags (`SettingFlags.swift`), also in
// text that leaves the typed world (log lines, reasons sent between coordinator and workers). Installed first.
Setting.naming = { $0.flag }
// OpenBLAS reads OPENBLAS_CORETYPE when it loads: when its own detection is weaker than the CPU (e.g. generic
// Prescott kernels on an AVX-512 Xeon it does not know), this re-executes the binary once with the right core set
// (never over a user's OPENBLAS_CORETYPE; FLOWTURBO_BLAS_CORE=keep opts out). Worker processes inherit the choice.
BLASCoreSelection.applyAtStartup()
// swift-log to stderr, one compact line per event; worker/coordinator/run set the level from --log-level.
ClusterLog.bootstrap()
// What `Flowturbo.main()` does, plus two mappings: the application layer's typed setting errors are worded with
// this CLI's flags (`RunSettingFlags.swift`), and a library error's settings are rendered as flags.
do {
    var command = try Flowturbo.parseAsRoot()
    try command.run()
} catch let error as RunSettingError {
    Flowturbo.exit(withError: FlowError(error.cliMessage))
} catch let error as FlowError {
    Flowturbo.exit(withError: FlowError(error.rendered(naming: { $0.flag })))
} catch {
    Flowturbo.exit(withError: error)
}
