/// A dense, row-major float32 array with a shape: the unit of file I/O and of model inputs.
///
/// Hot paths do not pass `Tensor`s around: they work on preallocated `UnsafeMutablePointer<Float>`
/// buffers. `Tensor` is for loading, saving and tests.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Float]

    /// Creates a tensor; `data.count` must equal the product of `shape`.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "Tensor: shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// Number of elements.
    public var count: Int { data.count }

    /// Shape rendered like PyTorch, e.g. `[2, 1, 28, 28]`.
    public var shapeDescription: String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}
