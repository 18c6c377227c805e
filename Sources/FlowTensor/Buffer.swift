/// A fixed-size float32 buffer allocated once (64-byte aligned) and freed with its owner.
///
/// Model weights, gradients and every workspace of a compiled sampling program are `Buffer`s:
/// hot loops work on `ptr` directly and never allocate.
public final class Buffer {
    public let ptr: UnsafeMutablePointer<Float>
    public let count: Int

    /// A zero-filled buffer of `count` floats.
    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        ptr = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        ptr.initialize(repeating: 0, count: max(count, 1))
    }

    /// A buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { ptr.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { UnsafeMutableRawPointer(ptr).deallocate() }

    /// A copy of the contents as an array.
    public var array: [Float] { Array(UnsafeBufferPointer(start: ptr, count: count)) }

    /// Sets every element to `v`.
    public func fill(_ v: Float) { ptr.update(repeating: v, count: count) }

    /// Copies `values` in (counts must match).
    public func copy(from values: [Float]) {
        precondition(values.count == count, "Buffer.copy: \(values.count) values for \(count) slots")
        values.withUnsafeBufferPointer { ptr.update(from: $0.baseAddress!, count: count) }
    }
}

/// A small seeded generator (SplitMix64 + Box–Muller) for weight initialisation and tests.
///
/// Not the sampling noise source: sampling noise is counter-based (FlowSampler's Philox) so that
/// it depends only on (seed, sample index). Draws from `SplitMix64`'s `.initialisation` stream.
public struct SeededRandom {
    var core: SplitMix64
    public init(seed: UInt64) { core = SplitMix64(seed: seed, stream: .initialisation) }

    /// Next 64 random bits.
    public mutating func next() -> UInt64 { core.next() }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { core.uniform() }

    /// Standard normal.
    public mutating func normal() -> Double { core.normal() }

    /// `n` normals with standard deviation `std`, as float32.
    public mutating func normals(_ n: Int, std: Double = 1) -> [Float] { (0..<n).map { _ in Float(normal() * std) } }
}
