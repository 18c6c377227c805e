import FlowTensor

/// A velocity field v(x, t, y) over fixed-size samples: the one abstraction every sampler uses.
///
/// Implemented by the SiT predictor, the FlowTurbo refiner (which also takes the previous
/// velocity) and the exact analytic Gaussian-mixture field. Time follows docs/ALGORITHM.md: t = 0 is
/// noise, t = 1 is data. Label `numClasses` is the null (unconditional) class used by guidance.
public protocol VelocityField: AnyObject {
    /// Shape of one sample, e.g. `[1, 28, 28]` (C, H, W) or `[D]`.
    var sampleShape: [Int] { get }
    /// Number of real classes; label `numClasses` is the null class.
    var numClasses: Int { get }
    /// True for a refiner: `evaluate` needs the previous velocity `v` and returns `r(x, v, t, y) + v`.
    var isRefiner: Bool { get }
    /// Floating-point operations of one evaluation of one row (for benchmarks; 0 if negligible).
    var flopsPerRow: Double { get }
    /// Creates an evaluator with every buffer preallocated for up to `maxRows` rows.
    ///
    /// `times` are the time points a compiled program will query by index; the evaluator may
    /// precompute everything that depends only on (t, y) for them once labels are set.
    func makeEvaluator(maxRows: Int, times: [Float]) -> VelocityEvaluator
    /// The same field evaluated natively in float64, if it has such a form (nil: only the float32 evaluator).
    var float64: Float64VelocityField? { get }
}

extension VelocityField {
    /// Number of floats in one sample.
    public var sampleSize: Int { sampleShape.reduce(1, *) }
    /// Most fields are float32 only.
    public var float64: Float64VelocityField? { nil }
}

/// A velocity field that evaluates one row natively in float64 (the reference path adaptive solvers integrate).
public protocol Float64VelocityField: AnyObject {
    /// Doubles in one row.
    var dimension: Int { get }
    /// Number of real classes; label `numClasses` is the null class.
    var numClasses: Int { get }
    /// Doubles of scratch one `velocity` call needs.
    var scratchSize: Int { get }
    /// Writes v(x, t, label) for one row into `out` (`dimension` doubles); allocation-free.
    func velocity(
        x: UnsafePointer<Double>, t: Double, label: Int32, out: UnsafeMutablePointer<Double>,
        scratch: UnsafeMutablePointer<Double>)
}

/// A preallocated evaluation context of a `VelocityField` (not thread-safe; one per thread).
///
/// After `setLabels`, `evaluate` performs no heap allocation.
public protocol VelocityEvaluator: AnyObject {
    /// Sets the rows' labels (once per batch) and precomputes the per-(t, y) conditioning for every
    /// time point given at creation. `rows` ≤ `maxRows`.
    func setLabels(_ labels: UnsafePointer<Int32>, rows: Int)
    /// Writes v(x, times[timeIndex], labels) for the current rows into `out` (rows × sampleSize).
    /// `v` is the previous velocity for refiners and must be nil otherwise.
    func evaluate(x: UnsafePointer<Float>, v: UnsafePointer<Float>?, timeIndex: Int, out: UnsafeMutablePointer<Float>)
    /// The same at an arbitrary time (used by adaptive solvers; no per-time caching).
    func evaluate(x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: Float, out: UnsafeMutablePointer<Float>)
}

/// A velocity field conditioned on caption token features (PixArt-α) instead of class labels.
///
/// A caption is (L, captionChannels) float features with a mask (non-zero = real token). The null caption used by
/// classifier-free guidance is the model's own learned one (L_max = `captionTokens` tokens, all real).
public protocol CaptionConditionedField: VelocityField {
    /// Channels of one caption token feature.
    var captionChannels: Int { get }
    /// L_max: tokens of the null caption.
    var captionTokens: Int { get }
    /// An evaluator that also accepts captions of up to `maxCaptionLength` tokens.
    func makeCaptionEvaluator(maxRows: Int, times: [Float], maxCaptionLength: Int) -> CaptionConditionedEvaluator
}

/// An evaluator of a `CaptionConditionedField`: captions are set once per batch, before `setLabels`.
public protocol CaptionConditionedEvaluator: VelocityEvaluator {
    /// Rows `0 ..< captionRows` read `length` token features each from `features` (row-major (rows, L, C)) with
    /// `mask` (rows, L), nil = every token real; rows `captionRows ..< rows` take the null caption.
    func setCaptions(
        features: UnsafePointer<Float>?, mask: UnsafePointer<Int32>?, length: Int, captionRows: Int,
        rows: Int)
}
