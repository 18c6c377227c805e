/// The one error type every flowturbo module throws for bad input.
///
/// The message is a single line that names the problem (file, tensor, flag) and, where one
/// exists, the fix. The CLI prints it verbatim after `error: `.
public struct FlowError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
