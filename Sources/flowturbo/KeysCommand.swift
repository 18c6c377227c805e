import ArgumentParser
import FlowCluster
import FlowTensor
import Foundation

/// `flowturbo keys`: CurveZMQ key management for authenticated, encrypted clusters.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract:
            "Create and inspect CurveZMQ keys (coordinator --curve-secret/--allow, worker --curve-server-key/--curve-secret).",
        subcommands: [KeysGenerate.self, KeysPublic.self])
}

/// `flowturbo keys generate`: new key pairs as NAME.key (secret, 0600) + NAME.pub.
struct KeysGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write key pairs NAME.key (Z85 secret, mode 0600) and NAME.pub (Z85 public) into --out.",
        discussion: """
            Typical: `flowturbo keys generate --out keys` creates keys/coordinator.{key,pub} and keys/worker.{key,pub}; \
            run `flowturbo coordinator --curve-secret keys/coordinator.key --allow keys/worker.pub …` and \
            `flowturbo worker --curve-server-key keys/coordinator.pub --curve-secret keys/worker.key …`. \
            Give each worker host its own --name to revoke hosts one by one (--allow DIR takes every .pub in DIR).
            """)

    @Option(help: "Directory for the key files (created if missing).")
    var out: String
    @Option(parsing: .upToNextOption, help: "Key pair names (default: coordinator worker).")
    var name: [String] = ["coordinator", "worker"]

    func run() throws {
        for n in name {
            let paths = try CurveKeys.write(try CurveKeys.generate(), dir: out, name: n)
            print("wrote \(paths.secret) (secret, 0600) and \(paths.public)")
        }
    }
}

/// `flowturbo keys public`: print the public key of a secret key file.
struct KeysPublic: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "public", abstract: "Print the Z85 public key of a NAME.key file.")

    @Argument(help: "Secret key file.")
    var secret: String

    func run() throws { print(try CurveKeys.readSecret(secret).publicKey) }
}
