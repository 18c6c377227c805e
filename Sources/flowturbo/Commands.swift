import ArgumentParser

/// Every subcommand of `flowturbo`, in help order. Each command lives in its own file.
enum CommandRegistry {
    static let all: [ParsableCommand.Type] = [
    ]
}
