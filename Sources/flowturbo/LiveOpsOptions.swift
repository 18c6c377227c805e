import ArgumentParser
import FlowCluster
import FlowMetrics
import FlowTensor
import Foundation
import Logging

/// Live-operation flags of `run` and `coordinator`: Prometheus `/metrics`, heartbeat interval and liveness, log level.
struct LiveOpsOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://HOST:PORT/metrics while the run is live (loopback only unless "
                + "--metrics-allow-remote; port 0 picks a free port, logged at start).", valueName: "HOST:PORT"))
    var metrics: String?
    @Flag(
        help: "Let --metrics listen on a non-loopback address (/metrics has no authentication: trusted networks only).")
    var metricsAllowRemote = false
    @Option(
        help: ArgumentHelp(
            "Keep serving /metrics this many seconds after the run completed, for a final scrape (0 = stop at once).",
            valueName: "S"))
    var metricsLinger: Double = 0
    @Option(
        help: ArgumentHelp(
            "Heartbeat interval between coordinator and workers in ms (\(LiveOpsOptions.heartbeatBounds.lowerBound) to "
                + "\(LiveOpsOptions.heartbeatBounds.upperBound)).", valueName: "MS"))
    var heartbeatMs: Int = 1000
    @Option(
        help: ArgumentHelp(
            "Heartbeat intervals a worker may stay silent before it is presumed dead and its leases are re-queued "
                + "(\(LiveOpsOptions.livenessBounds.lowerBound) to \(LiveOpsOptions.livenessBounds.upperBound)).",
            valueName: "N"))
    var liveness: Int = 3
    @Option(
        help: ArgumentHelp(
            "Log level on stderr: \(ClusterLog.levels.joined(separator: ", ")) (default info).",
            valueName: "LEVEL"))
    var logLevel: String?

    /// Heartbeats faster than the coordinator's 100 ms control loop would not be sent faster.
    static let heartbeatBounds = 100...60_000
    static let livenessBounds = 2...100
    static let lingerBounds = 0.0...3600.0

    /// Checks every flag with a one-line error, sets the log level and returns the metrics address (before anything
    /// is started, so a refused address leaves no trace).
    func check() throws -> MetricsAddress? {
        ClusterLog.threshold = try ClusterLog.parse(logLevel ?? "info")
        try Self.checkHeartbeat(heartbeatMs)
        guard Self.livenessBounds.contains(liveness) else {
            throw FlowError(
                "--liveness \(liveness): expected \(Self.livenessBounds.lowerBound) to "
                    + "\(Self.livenessBounds.upperBound) heartbeat intervals")
        }
        guard metricsLinger.isFinite, Self.lingerBounds.contains(metricsLinger) else {
            throw FlowError("--metrics-linger \(metricsLinger): expected 0 to 3600 seconds")
        }
        guard let text = metrics else {
            if metricsAllowRemote || metricsLinger > 0 {
                throw FlowError("--metrics-allow-remote and --metrics-linger apply to --metrics HOST:PORT; add it")
            }
            return nil
        }
        return try MetricsAddress(parsing: text, allowRemote: metricsAllowRemote)
    }

    /// Refuses a heartbeat interval outside `heartbeatBounds`.
    static func checkHeartbeat(_ ms: Int) throws {
        guard heartbeatBounds.contains(ms) else {
            throw FlowError(
                "--heartbeat-ms \(ms): expected \(heartbeatBounds.lowerBound) to "
                    + "\(heartbeatBounds.upperBound) milliseconds")
        }
    }

    /// Sets heartbeat interval and liveness.
    func apply(to config: inout CoordinatorConfig) {
        config.heartbeatIntervalMs = heartbeatMs
        config.liveness = liveness
    }

    /// Worker flags that match: the same heartbeat interval, and the log level (local workers of `run` log warnings
    /// and errors only unless --log-level is given, so their per-shard lines do not bury the progress bar).
    var localWorkerArguments: [String] {
        ["--heartbeat-ms", String(heartbeatMs), "--log-level", logLevel ?? "warning"]
    }

    /// Starts the `/metrics` server for `coordinator` (nil without --metrics).
    func startMetrics(_ address: MetricsAddress?, coordinator: Coordinator) throws -> LiveMetrics? {
        guard let address = address else { return nil }
        return try LiveMetrics(address: address, coordinator: coordinator, linger: metricsLinger)
    }
}

/// A running `/metrics` endpoint fed by one coordinator.
final class LiveMetrics {
    let metrics = ClusterMetrics()
    let server: MetricsServer
    let linger: Double

    init(address: MetricsAddress, coordinator: Coordinator, linger: Double) throws {
        let metrics = self.metrics
        server = try MetricsServer(address: address) { metrics.exposition() }
        self.linger = linger
        metrics.observe(coordinator.snapshot)  // totals before the first control-loop iteration
        coordinator.observer = metrics
        var shown = address
        if address.port == 0 {
            shown = try MetricsAddress(parsing: "\(address.host):\(server.port)", allowRemote: true)
        }
        Logger(label: "flowturbo.metrics").notice("serving http://\(shown)/metrics")
    }

    /// After a completed run: keeps serving for `linger` seconds (a stop signal ends the wait).
    func lingerAfterRun() {
        let end = Date().addingTimeInterval(linger)
        while Date() < end && !StopSignals.requested { Thread.sleep(forTimeInterval: 0.05) }
    }

    /// Closes the endpoint.
    func stop() { server.stop() }
}
