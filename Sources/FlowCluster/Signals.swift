import Foundation

#if canImport(Glibc)
    import Glibc
#endif

private var stopSignal: sig_atomic_t = 0

/// SIGINT/SIGTERM → a process-wide flag that every `StopToken` reports, so the running control loops stop
/// cleanly (journal consistent, workers told to shut down) instead of dying mid-write.
///
/// Only a signal sets it: code stops one run through that run's `StopToken`, never the process's later runs.
public enum StopSignals {
    /// Installs handlers for SIGINT and SIGTERM (idempotent) and ignores SIGPIPE.
    public static func install() {
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = { _ in stopSignal = 1 }
        sigemptyset(&sa.sa_mask)
        sa.sa_flags = 0  // no SA_RESTART: blocking calls return EINTR and loops re-check the flag
        sigaction(SIGINT, &sa, nil)
        sigaction(SIGTERM, &sa, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// True once SIGINT or SIGTERM arrived.
    public static var requested: Bool { stopSignal != 0 }
}

/// Stops one run (a coordinator's or a worker's loop): set by `stop()` from any thread, or by SIGINT/SIGTERM
/// (a signal tells the whole process to stop). Stopping one run leaves every other run of the process alone.
public final class StopToken: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false

    /// A token not stopped yet.
    public init() {}

    /// True once `stop()` was called or a stop signal arrived.
    public var isStopped: Bool {
        if StopSignals.requested { return true }
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    /// Asks the run to stop (it finishes its current step and returns).
    public func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }
}
