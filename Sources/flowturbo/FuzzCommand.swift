import ArgumentParser
import FlowCluster
import FlowFuzz
import FlowTensor
import Foundation

/// Last input handed to the code under test, kept in a preallocated buffer so a fatal-signal
/// handler can write it out without allocating (crash reproducer).
private let crashBufferCapacity = 1 << 20
private let crashBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: crashBufferCapacity)
private var crashLength = 0
private var crashFD: Int32 = -1

private func recordInput(_ bytes: [UInt8]) {
    let n = min(bytes.count, crashBufferCapacity)
    bytes.withUnsafeBufferPointer { if let b = $0.baseAddress { crashBuffer.update(from: b, count: n) } }
    crashLength = n
}

/// `flowturbo fuzz`: mutation fuzzing of every decoder that reads network or disk input.
struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract:
            "Fuzz the protobuf decoders, the coordinator/aggregator message handling, or the --resume journal reader.",
        discussion: """
            Targets: proto (every protobuf message decoder), frames (a live coordinator + aggregator over real \
            sockets: mutated multipart messages, results and raw ZMTP streams; the run must still complete), \
            journal (Journal.read and the coordinator's resume path), worker (a real worker fed mutated \
            coordinator messages by a fake coordinator), all (each for --seconds). A crash is a \
            trap: the process dies and the last input is written to --crash-dir. Exit status 1 if a target \
            hung or did not complete.
            """)

    @Option(help: "proto, frames, journal, worker or all.")
    var target: String = "all"
    @Option(help: "Seconds per target.")
    var seconds: Double = 10
    @Option(help: "Mutation seed (same seed, same inputs).")
    var seed: UInt64 = 1
    @Option(help: "Where a crashing input is written (crash-<target>-<pid>.bin).")
    var crashDir: String = "."

    func run() throws {
        let targets = target == "all" ? ["proto", "journal", "frames", "worker"] : [target]
        for t in targets where !["proto", "frames", "journal", "worker"].contains(t) {
            throw FlowError("--target \(t): expected proto, frames, journal, worker or all")
        }
        signal(SIGPIPE, SIG_IGN)
        try FileIO.makeDirectories(crashDir)
        let work = NSTemporaryDirectory() + "flowturbo-fuzz-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: work) }
        var failed = false
        for t in targets {
            try installCrashHandler(path: crashDir + "/crash-\(t)-\(getpid()).bin")
            let stats: FuzzStats
            switch t {
            case "proto": stats = FuzzTargets.proto(seconds: seconds, seed: seed, record: recordInput)
            case "worker": stats = try FuzzWorker.run(seconds: seconds, seed: seed, record: recordInput)
            case "journal":
                stats = try FuzzTargets.journal(
                    seconds: seconds, seed: seed, workDir: work + "/journal", record: recordInput)
            default:
                stats = try FuzzFrames.run(seconds: seconds, seed: seed, workDir: work + "/frames", record: recordInput)
            }
            let line = String(
                format: "fuzz %@: %d executions in %.1f s (%.0f/s), %d rejected, %d accepted, %d hangs, 0 crashes",
                t, stats.executions, stats.seconds, stats.rate, stats.rejected, stats.accepted, stats.hangs)
            print(line)
            for n in stats.notes.prefix(5) { print("  \(n)") }
            if stats.hangs > 0 || stats.notes.contains(where: { $0.contains("did not") || $0.contains("unstable") }) {
                failed = true
            }
            if crashFD >= 0 {
                close(crashFD)
                crashFD = -1
            }
            unlink(crashDir + "/crash-\(t)-\(getpid()).bin")
        }
        if failed { throw ExitCode(1) }
    }

    /// Opens the reproducer file and installs handlers for the signals a Swift trap or memory error raises.
    private func installCrashHandler(path: String) throws {
        crashFD = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard crashFD >= 0 else {
            throw FlowError("--crash-dir: cannot create \(path) (\(String(cString: strerror(errno))))")
        }
        for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
            signal(sig) { s in
                if crashFD >= 0 {
                    _ = write(crashFD, crashBuffer, crashLength)
                    fsync(crashFD)
                }
                let msg = "fuzz: crash (signal) — last input written to the crash file in --crash-dir\n"
                _ = msg.withCString { write(2, $0, strlen($0)) }
                signal(s, SIG_DFL)
                raise(s)
            }
        }
    }
}
