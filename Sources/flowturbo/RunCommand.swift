import ArgumentParser
import FlowApp
import FlowCluster
import FlowTensor
import Foundation

/// `flowturbo run`: coordinator + aggregator in this process and N local worker processes.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract:
            "Sample an evaluation set with N local worker processes (the main command); see README \"Distributed runs\"."
    )

    @Option(help: "Number of worker processes (default: number of cores).")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Control endpoint (default: a free loopback port).")
    var bind: String = "tcp://127.0.0.1:0"
    @OptionGroup var opts: ClusterRunOptions
    @OptionGroup var live: LiveOpsOptions
    @Option(help: .hidden)
    var workerBatchDelayMs: Int = 0

    func run() throws {
        StopSignals.install()
        let metricsAddress = try live.check()
        guard workers >= 1 else { throw FlowError("--workers must be ≥ 1 (got \(workers))") }
        try Exposure.checkLocal(bind: bind)
        let request = opts.request
        let spec = try RunApplication.prepare(request)
        if !opts.quiet { printSlowKernelHint() }
        var config = try spec.coordinatorConfig(controlBind: bind, dataBind: Endpoint.loopback(for: bind, port: 0))
        try RunApplication.configure(&config, request)
        live.apply(to: &config)
        // A private cluster: ephemeral CURVE keys only this run's workers receive (in their environment).
        let keys = CurveKeys.available ? try LocalClusterKeys.generate() : nil
        config.curve = keys?.serverSecurity
        if keys == nil {
            FileHandle.standardError.write(
                Data("note: this libzmq has no CURVE; the local cluster relies on lease tokens only\n".utf8))
        }
        let context = try ZMQContext()
        let coordinator = try Coordinator(config: config, context: context)
        try RunDirectory.writeEndpoints(spec.outDir, control: coordinator.controlPort, data: coordinator.dataPort)
        let metrics = try live.startMetrics(metricsAddress, coordinator: coordinator)
        defer { metrics?.stop() }
        let connect = Endpoint.loopback(for: bind, port: coordinator.controlPort)
        let procs = WorkerProcesses(
            count: workers,
            arguments: ["--connect", connect]
                + opts.workerModelArguments(spec) + ["--batch-delay-ms", String(workerBatchDelayMs)]
                + live.localWorkerArguments,
            environment: keys?.environment ?? [:],
            idPrefix: spec.part.map { "part\($0.index)-local" } ?? "local")
        try procs.start()
        var lastCheck = Date()
        coordinator.onTick = {
            if Date().timeIntervalSince(lastCheck) > 0.5 {
                lastCheck = Date()
                procs.respawnCrashed()
                if procs.exhausted && coordinator.bannedWorkers > 0 {
                    // No other process can join this private cluster: nothing will ever finish the run.
                    coordinator.abort(coordinator.noProgressMessage)
                } else if procs.pids.isEmpty && procs.respawns >= procs.maxRespawns {
                    let manual = (["flowturbo worker --connect", connect] + opts.workerModelArguments(spec))
                        .joined(separator: " ")
                    coordinator.abort(
                        "every worker process keeps exiting (\(procs.respawns) restarts); "
                            + "run `\(manual)` by hand to see why")
                }
            }
        }
        let summary: CoordinatorSummary
        do { summary = try coordinator.run() } catch {
            procs.reap(seconds: 2)
            throw error
        }
        procs.reap()
        if !summary.completed {
            FileHandle.standardError.write(
                Data("interrupted: journal is consistent; rerun with --resume to continue\n".utf8))
            throw ExitCode(130)
        }
        let finish = try RunApplication.finish(
            spec: spec, summary: summary, workers: workers, report: opts.report,
            exportNPZ: opts.exportNpz)
        printFinish(finish, outDir: spec.outDir)
        if !opts.quiet { print("kernels (every local worker): \(BLASCoreSelection.kernelSummary())") }
        metrics?.lingerAfterRun()
    }
}
