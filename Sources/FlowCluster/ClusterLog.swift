import FlowTensor
import Foundation
import Logging

/// swift-log output of the cluster commands: one compact line per event on stderr,
/// `2026-11-30T02:41:07.123Z info flowturbo.worker: assignment shard=3 lease=7 worker=local-1`
/// (UTC time with milliseconds, level, logger label, message, metadata sorted by key), written with one `write(2)`
/// so lines of concurrent threads do not interleave.
public struct CompactLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let write: @Sendable (String) -> Void

    /// A handler for `label` at `level`; `write` receives each finished line (default: stderr).
    public init(
        label: String, level: Logger.Level, write: @escaping @Sendable (String) -> Void = CompactLogHandler.stderr
    ) {
        self.label = label
        self.logLevel = level
        self.write = write
    }

    /// Writes `line` to file descriptor 2 in one call.
    public static let stderr: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { Foundation.write(2, $0.baseAddress, $0.count) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var line = Self.timestamp(Date()) + " \(event.level) \(label): \(event.message)"
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            let text = "\(value)"
            line += " \(key)=" + (text.contains(" ") || text.isEmpty ? "\"\(text)\"" : text)
        }
        write(line + "\n")
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
    static func timestamp(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var seconds = time_t(t.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let ms = min(999, Int((t - t.rounded(.down)) * 1000))
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), ms)
    }
}

/// The `--log-level` of `worker`, `coordinator` and `run`: the `flowturbo` binary bootstraps swift-log once at start
/// (`bootstrap()`), and each command sets `threshold` before its first log line (other commands keep `.error`, so
/// e.g. `fuzz`, which drives coordinators through thousands of hostile inputs, stays quiet).
public enum ClusterLog {
    /// The accepted level names, lowest first.
    public static let levels = Logger.Level.allCases.map { $0.rawValue }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var current = Logger.Level.error

    /// Level of loggers made from now on (each cluster logger is made where it logs).
    public static var threshold: Logger.Level {
        get {
            lock.lock()
            defer { lock.unlock() }
            return current
        }
        set {
            lock.lock()
            current = newValue
            lock.unlock()
        }
    }

    /// Parses a level name (trace, debug, info, notice, warning, error, critical) with a one-line error otherwise.
    public static func parse(_ text: String) throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw FlowError("\(.logLevel) \(text): expected one of \(levels.joined(separator: ", "))")
        }
        return level
    }

    /// Sends every `Logger` of this process to `CompactLogHandler` on stderr at `threshold` (call once, at start).
    public static func bootstrap() {
        LoggingSystem.bootstrap { label in CompactLogHandler(label: label, level: threshold) }
    }
}
