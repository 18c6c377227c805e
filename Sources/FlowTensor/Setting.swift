import Foundation

/// A user-facing setting the libraries refer to in their errors, named for what it means rather than for how a
/// front end spells it: the CLI maps each to its flag (`Sources/flowturbo/SettingFlags.swift`), so only the CLI
/// knows flag names.
public enum Setting: String, CaseIterable, Sendable {
    // Where a run lives and how it starts.
    case out, resume, overwrite, part, exportNPZ
    // Endpoints, keys and exposure.
    case bind, dataBind, curveSecret, curveServerKey, allowList, insecure, name
    // What a run samples and how it is cut.
    case samples, batch, imagesPerPrompt, prompts, labels, refinerStep, shardSize
    // Quality statistics.
    case reference, features, projectionDimension
    // Limits and operations.
    case maxMessageMB, maxShardMB, maxInFlight, audit, progressInterval, logLevel, metrics, metricsAllowRemote
    // Models.
    case model, refiner, predictor, heads, v
    // Adaptive sampling.
    case maxSteps, rtol, atol
    // Training.
    case checkpoint, checkpointEvery, depth, width, data, categoryWeights, initFrom
}

extension Setting: CustomStringConvertible {
    /// The library's own wording of a setting: its name in single quotes, e.g. `'resume'` (no front end's syntax).
    public static func neutralName(_ setting: Setting) -> String { "'\(setting.rawValue)'" }

    /// How text built in this process spells settings: `neutralName` unless a front end installed its own at
    /// start-up (the CLI installs its flags), so messages that leave the typed world — log lines, reasons sent
    /// to other processes — read the way the user types them.
    public static var naming: @Sendable (Setting) -> String {
        get { SettingNaming.shared.get() }
        set { SettingNaming.shared.set(newValue) }
    }

    /// The setting as this process spells it (`Setting.naming`).
    public var description: String { Setting.naming(self) }
}

/// The process-wide `Setting.naming`, behind a lock (it is read from any thread that words an error).
private final class SettingNaming: @unchecked Sendable {
    static let shared = SettingNaming()
    private let lock = NSLock()
    private var naming: @Sendable (Setting) -> String = { Setting.neutralName($0) }

    func get() -> @Sendable (Setting) -> String {
        lock.lock()
        defer { lock.unlock() }
        return naming
    }

    func set(_ f: @escaping @Sendable (Setting) -> String) {
        lock.lock()
        naming = f
        lock.unlock()
    }
}
