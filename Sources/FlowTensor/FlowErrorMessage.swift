extension FlowError {
    /// The text of a `FlowError` as a string literal whose interpolations may be settings (`\(.resume)`, kept
    /// typed), other `FlowError`s (their parts spliced in, settings still typed) or any other value (as text).
    public struct Message: ExpressibleByStringInterpolation, Sendable {
        var parts: [Part]

        public init(stringLiteral value: String) { parts = [.text(value)] }

        public init(stringInterpolation: Interpolation) { parts = stringInterpolation.parts }

        /// Concatenation, for messages longer than one source line.
        public static func + (lhs: Message, rhs: Message) -> Message {
            var m = lhs
            m.parts += rhs.parts
            return m
        }

        public struct Interpolation: StringInterpolationProtocol, Sendable {
            var parts: [Part] = []

            public init(literalCapacity: Int, interpolationCount: Int) {
                parts.reserveCapacity(2 * interpolationCount + 1)
            }

            public mutating func appendLiteral(_ literal: String) { parts.append(.text(literal)) }

            /// A setting, kept typed.
            public mutating func appendInterpolation(_ setting: Setting) { parts.append(.setting(setting)) }

            /// Another message, its settings kept typed.
            public mutating func appendInterpolation(_ message: Message) { parts += message.parts }

            /// Any other value as text; a `FlowError` (also as `any Error`) keeps its settings typed.
            public mutating func appendInterpolation<T>(_ value: T) {
                if let e = value as? FlowError {
                    parts += e.parts
                } else {
                    parts.append(.text(String(describing: value)))
                }
            }
        }
    }
}
