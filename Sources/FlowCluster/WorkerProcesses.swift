import FlowTensor
import Foundation

/// Local `flowturbo worker` child processes for `flowturbo run`: spawn, watch, respawn, reap.
///
/// Children run this same executable (`/proc/self/exe`) with `OPENBLAS_NUM_THREADS=1` and
/// `--parent-pid`, so they exit on their own if the parent dies (e.g. SIGKILL of the coordinator).
public final class WorkerProcesses {
    private var processes: [Process] = []
    private let executable: String
    private let arguments: [String]
    private let environment: [String: String]
    private var nextID = 0
    /// Crashed workers restarted so far.
    public private(set) var respawns = 0
    private let idPrefix: String
    /// Upper bound on restarts (a worker that crashes on every start must not loop forever).
    public var maxRespawns: Int

    /// Exit status of a worker the coordinator refused or banned: it is not restarted (it would be refused again).
    public static let refusedExitStatus: Int32 = 3

    /// Prepares `count` workers running `executable worker <arguments> --id PREFIX-K --parent-pid PID`, with
    /// `environment` added to this process's (e.g. the run's ephemeral CURVE keys). The prefix keeps the workers
    /// of different parts apart in a merged run's journal and per-worker latency.
    public init(
        count: Int, executable: String = WorkerProcesses.selfExecutable, arguments: [String],
        environment: [String: String] = [:], idPrefix: String = "local"
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.idPrefix = idPrefix
        self.maxRespawns = 2 * count + 2
        for _ in 0..<count { processes.append(makeProcess()) }
    }

    /// Real path of the running executable.
    public static var selfExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    private func makeProcess() -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["worker"] + arguments + ["--id", "\(idPrefix)-\(nextID)", "--parent-pid", String(getpid())]
        nextID += 1
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        env.merge(environment) { _, new in new }
        p.environment = env
        return p
    }

    /// Starts every worker.
    public func start() throws {
        for p in processes where !p.isRunning {
            do { try p.run() } catch { throw FlowError("cannot start worker \(executable): \(error)") }
        }
    }

    /// PIDs of the running workers.
    public var pids: [Int32] { processes.filter { $0.isRunning }.map { $0.processIdentifier } }

    private func crashed(_ p: Process) -> Bool {
        !p.isRunning
            && (p.terminationReason == .uncaughtSignal
                || (p.terminationStatus != 0 && p.terminationStatus != WorkerProcesses.refusedExitStatus))
    }

    /// True when no worker runs and none will be restarted (all exited after Shutdown or refusal, or the
    /// restart budget is spent): the run cannot make progress with local workers.
    public var exhausted: Bool {
        processes.allSatisfy { !$0.isRunning } && (respawns >= maxRespawns || !processes.contains(where: crashed))
    }

    /// Restarts workers that died abnormally (not those that exited with status 0 after Shutdown, nor
    /// refused ones).
    public func respawnCrashed() {
        for (i, p) in processes.enumerated() where crashed(p) {
            guard respawns < maxRespawns else { continue }
            let q = makeProcess()
            if (try? q.run()) != nil {
                processes[i] = q
                respawns += 1
            }
        }
    }

    /// Waits up to `seconds` for all workers to exit, then SIGKILLs the rest.
    public func reap(seconds: Double = 5) {
        let deadline = Date().addingTimeInterval(seconds)
        while processes.contains(where: { $0.isRunning }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in processes { p.waitUntilExit() }
    }
}
