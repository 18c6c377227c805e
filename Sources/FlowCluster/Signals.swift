#if canImport(Glibc)
import Glibc
#endif

private var stopSignal: sig_atomic_t = 0

/// SIGINT/SIGTERM → a flag the control loops poll, so they stop cleanly (journal consistent,
/// workers told to shut down) instead of dying mid-write.
public enum StopSignals {
    /// Installs handlers for SIGINT and SIGTERM (idempotent) and ignores SIGPIPE.
    public static func install() {
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = { _ in stopSignal = 1 }
        sigemptyset(&sa.sa_mask)
        sa.sa_flags = 0   // no SA_RESTART: blocking calls return EINTR and loops re-check the flag
        sigaction(SIGINT, &sa, nil)
        sigaction(SIGTERM, &sa, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// True once SIGINT or SIGTERM arrived.
    public static var requested: Bool { stopSignal != 0 }

    /// Requests a stop from code (tests, errors).
    public static func request() { stopSignal = 1 }
}
