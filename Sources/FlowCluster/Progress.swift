import Foundation

/// A one-line progress bar on stderr: done/total, samples/s and ETA, redrawn at most 4×/s.
public final class ProgressBar {
    private let total: Int
    private let start = Date()
    private var last = Date.distantPast
    private let enabled: Bool
    private let baseline: Int

    /// `baseline` samples were already done (resumed) and do not count toward the rate.
    public init(total: Int, baseline: Int = 0, enabled: Bool = isatty(2) != 0) {
        self.total = total; self.baseline = baseline; self.enabled = enabled
    }

    /// Redraws with `done` samples finished (forced on the final update).
    public func update(done: Int, workers: Int, force: Bool = false) {
        guard enabled else { return }
        let now = Date()
        if !force && now.timeIntervalSince(last) < 0.25 { return }
        last = now
        let elapsed = max(now.timeIntervalSince(start), 1e-6)
        let rate = Double(done - baseline) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : .infinity
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let etaText = eta.isFinite ? String(format: "%.0fs", eta) : "?"
        let line = String(format: "\r[%@] %d/%d  %.1f samples/s  ETA %@  workers %d ", bar, done, total, rate, etaText, workers)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends the line.
    public func finish() { if enabled { FileHandle.standardError.write(Data("\n".utf8)) } }
}
