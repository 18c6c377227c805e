import Foundation

/// Progress on stderr: on a terminal a one-line bar redrawn at most 4×/s; otherwise (a log file, Slurm or
/// Kubernetes output) one plain line every `interval` seconds:
/// `progress: 640/1000 samples (64.0%), 212.3 samples/s, ETA 2 s, workers 2, requeues 0`.
public final class ProgressBar {
    /// How progress is shown.
    public enum Mode: Equatable {
        case off
        /// Redrawn bar (`\r`) for a terminal.
        case bar
        /// A full line every `interval` seconds, for logs.
        case lines(interval: Double)

        /// `.bar` when stderr is a terminal, else `.lines(interval:)`.
        public static func forStderr(interval: Double) -> Mode { isatty(2) != 0 ? .bar : .lines(interval: interval) }
    }

    private let total: Int
    private let start = Date()
    private var last: Date
    private let mode: Mode
    private let baseline: Int
    private let write: (String) -> Void

    /// `baseline` samples were already done (resumed) and do not count toward the rate; `write` receives each
    /// piece of text (default: stderr).
    public init(
        total: Int, baseline: Int = 0, mode: Mode,
        write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    ) {
        self.total = total
        self.baseline = baseline
        self.mode = mode
        self.write = write
        // Lines start one interval in (a run shorter than that prints only its final line).
        last = mode == .bar ? .distantPast : Date()
    }

    /// Shows `done` samples finished (forced on the final update).
    public func update(done: Int, workers: Int, requeues: Int = 0, force: Bool = false) {
        let now = Date()
        switch mode {
        case .off:
            return
        case .bar:
            if !force && now.timeIntervalSince(last) < 0.25 { return }
        case .lines(let interval):
            if !force && now.timeIntervalSince(last) < interval { return }
        }
        last = now
        let elapsed = max(now.timeIntervalSince(start), 1e-6)
        let rate = Double(done - baseline) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : .infinity
        if mode == .bar {
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let etaText = eta.isFinite ? String(format: "%.0fs", eta) : "?"
            write(
                String(
                    format: "\r[%@] %d/%d  %.1f samples/s  ETA %@  workers %d ", bar, done, total, rate, etaText,
                    workers))
        } else {
            let percent = total > 0 ? 100 * Double(done) / Double(total) : 100
            let etaText = eta.isFinite ? String(format: "%.0f s", eta.rounded(.up)) : "?"
            write(
                String(
                    format: "progress: %d/%d samples (%.1f%%), %.1f samples/s, ETA %@, workers %d, requeues %d\n",
                    done, total, percent, rate, etaText, workers, requeues))
        }
    }

    /// Ends the bar's line.
    public func finish() { if mode == .bar { write("\n") } }
}
