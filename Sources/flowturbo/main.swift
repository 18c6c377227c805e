import ArgumentParser
import FlowTensor

/// The `flowturbo` command line: thin subcommands over the libraries.
struct Flowturbo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowturbo",
        abstract: "Fast FlowTurbo sampling of flow-matching generators, sharded over ZeroMQ.",
        subcommands: CommandRegistry.all)
}

Flowturbo.main()
