import Foundation

/// Named bounds for every numeric input (command-line values and model configuration fields).
///
/// Each bound comes from memory (nothing may ask for more bytes than the machine has) or from sanity
/// (far beyond any real use, far below where arithmetic on it could overflow). Checking against these
/// before allocating or converting turns traps, failed allocations and endless loops into one-line errors.
public enum Bounds {
    /// Physical memory of this machine in bytes (the ceiling of any one allocation).
    public static let memoryBytes = Int(clamping: ProcessInfo.processInfo.physicalMemory)
    /// Samples in one run or sample call: 2000 × a 50k FID set; indices and shard counts stay far from overflow.
    public static let maxSamples = 100_000_000
    /// Rows of one compiled program run (buffers scale with it; the memory check applies on top).
    public static let maxBatch = 1 << 16
    /// Longest duration a timeout, lease or give-up flag may name: 30 days (finite, so `Date` and `Int64`
    /// conversions hold).
    public static let maxSeconds = 30 * 86_400.0
    /// Largest message or shard size flag in MiB: 64 GiB, so `MiB << 20` cannot overflow and stays allocatable
    /// in principle.
    public static let maxMebibytes = 1 << 16
    /// Guidance scales beyond this are not guidance (and |s| · v overflows float32 for ordinary velocities).
    public static let maxGuidanceScale: Float = 1_000
    /// Feature dimensions (random projections, SWD directions): covariances are D² doubles.
    public static let maxFeatureDimension = 1 << 16
    /// Repetitions, subsets, directions, workers and similar counts.
    public static let maxRepetitions = 1 << 20
    /// Worker processes or threads started by one command.
    public static let maxWorkers = 4096
    /// Model configuration: any one width (hidden size, MLP width, channels, frequency embedding).
    public static let maxModelWidth = 1 << 18
    /// Model configuration: transformer blocks.
    public static let maxDepth = 4096
    /// Model configuration: input side length in pixels/latent cells, and tokens per sample.
    public static let maxInputSize = 1 << 14
    public static let maxTokens = 1 << 16
    /// Model configuration: classes of a class-conditional model.
    public static let maxClasses = 1 << 24
}

/// Range checks that throw a one-line `FlowError` naming the value and the accepted range.
///
/// `name` is what the user typed it as (a flag, a config field with its file); the checks never trap.
public enum Validate {
    /// `value` must lie in `range`.
    public static func count(_ value: Int, _ name: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw FlowError(
                "\(name) \(value) is out of range: expected "
                    + "\(range.lowerBound)…\(range.upperBound); pass a value in that range")
        }
    }

    /// Optional form of `count`: nil passes.
    public static func count(_ value: Int?, _ name: String, _ range: ClosedRange<Int>) throws {
        if let v = value { try count(v, name, range) }
    }

    /// A finite duration in seconds within `range` (NaN and ±inf are refused).
    public static func seconds(_ value: Double, _ name: String, _ range: ClosedRange<Double>) throws {
        guard value.isFinite, range.contains(value) else {
            throw FlowError(
                "\(name) \(value) is not a duration in \(range.lowerBound)…\(range.upperBound) "
                    + "seconds; pass a finite number in that range")
        }
    }

    /// A finite real number within `range`.
    public static func finite(_ value: Double, _ name: String, _ range: ClosedRange<Double>) throws {
        guard value.isFinite, range.contains(value) else {
            throw FlowError(
                "\(name) \(value) is out of range: expected a finite number in "
                    + "\(range.lowerBound)…\(range.upperBound)")
        }
    }

    /// Float form of `finite`.
    public static func finite(_ value: Float, _ name: String, _ range: ClosedRange<Float>) throws {
        try finite(Double(value), name, Double(range.lowerBound)...Double(range.upperBound))
    }

    /// `finite` for an optional value (nil = not given, nothing to check).
    public static func finite(_ value: Float?, _ name: String, _ range: ClosedRange<Float>) throws {
        if let v = value { try finite(v, name, range) }
    }

    /// Product of non-negative factors, nil on overflow.
    public static func product(_ factors: [Int]) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (m, o) = p.multipliedReportingOverflow(by: f)
            if o { return nil }
            p = m
        }
        return p
    }

    /// An allocation of `elements` (product of the factors) × `bytesPerElement` must fit in physical memory.
    public static func fitsInMemory(_ factors: [Int], bytesPerElement: Int, _ what: String) throws {
        guard let n = product(factors + [bytesPerElement]), n <= Bounds.memoryBytes else {
            let shape = factors.map(String.init).joined(separator: " × ")
            throw FlowError(
                "\(what) needs \(shape) × \(bytesPerElement) bytes, more than this machine's "
                    + "\(Bounds.memoryBytes >> 20) MiB of memory; use smaller values")
        }
    }
}
