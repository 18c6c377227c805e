/// The one error type every flowturbo module throws for bad input.
///
/// The message is a single line that names the problem (file, tensor, setting) and, where one exists, the fix.
/// Settings are typed parts, not text: a library writes `FlowError("… pass \(.resume) to continue it")`, and
/// each front end spells them its own way (`rendered(naming:)`; the CLI prints flags such as `--resume`).
public struct FlowError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A piece of the message: literal text, or a setting a front end spells.
    public enum Part: Equatable, Sendable {
        case text(String)
        case setting(Setting)
    }

    /// The message as text and typed settings (adjacent text merged, empty text dropped).
    public let parts: [Part]

    /// A message with typed settings, written as a string literal: `"\(path) exists; pass \(.resume)"`.
    public init(_ message: Message) { parts = Self.merged(message.parts) }

    /// A message without settings (e.g. one built as a `String`).
    @_disfavoredOverload
    public init(_ message: String) { parts = Self.merged([.text(message)]) }

    /// The settings the message names, in order.
    public var settings: [Setting] {
        parts.compactMap {
            if case .setting(let s) = $0 { return s }
            return nil
        }
    }

    /// The message with each setting spelled by `naming` (e.g. the CLI's flags).
    public func rendered(naming: (Setting) -> String) -> String {
        parts.map {
            switch $0 {
            case .text(let t): return t
            case .setting(let s): return naming(s)
            }
        }.joined()
    }

    /// The message with settings spelled as this process spells them (`Setting.naming`: neutral in a library,
    /// flags in the CLI).
    public var message: String { rendered(naming: Setting.naming) }

    public var description: String { message }

    private static func merged(_ parts: [Part]) -> [Part] {
        var out: [Part] = []
        for p in parts {
            switch (p, out.last) {
            case (.text(let t), _) where t.isEmpty: continue
            case (.text(let t), .text(let u)?): out[out.count - 1] = .text(u + t)
            default: out.append(p)
            }
        }
        return out
    }
}
