import COpenBLAS
import FlowTensor

/// Mergeable first and second moments in float64: count, Σ(x − c) and Σ(x − c)(x − c)ᵀ about a fixed shift c.
///
/// Shards accumulated on different workers combine by plain addition of the three sums (`merge`),
/// as torchmetrics' FID keeps them, so statistics of a set never need the raw vectors in one place.
/// Covariance is Σ = (S − n m mᵀ)/(n − 1) with m = (Σ(x − c))/n, and μ = c + m. Subtracting n m mᵀ
/// cancels catastrophically when ‖μ‖ ≫ spread; keeping the sums about a shift c near μ (e.g. the
/// reference mean, or zero for centred latents) bounds that loss. Shards merge exactly only when they
/// use the same shift; a different shift is converted algebraically (not bit-exact, documented).
/// `outer` holds the full symmetric D×D matrix row-major (both triangles kept in sync on add).
public struct Moments: Sendable, Equatable {
    /// Vector dimension D.
    public let dimension: Int
    /// Number of vectors added.
    public var count: Int
    /// Shift c (D values) the sums are taken about.
    public var shift: [Double]
    /// Σ (x − c), D values.
    public var sum: [Double]
    /// Σ (x − c)(x − c)ᵀ, D×D row-major.
    public var outer: [Double]

    /// Empty moments of dimension `dimension` about `shift` (zero when nil).
    public init(dimension: Int, shift: [Double]? = nil) {
        precondition(dimension > 0, "Moments: dimension must be positive")
        self.dimension = dimension
        self.count = 0
        self.shift = shift ?? [Double](repeating: 0, count: dimension)
        precondition(
            self.shift.count == dimension, "Moments: shift has \(self.shift.count) values for dimension \(dimension)")
        self.sum = [Double](repeating: 0, count: dimension)
        self.outer = [Double](repeating: 0, count: dimension * dimension)
    }

    /// Rebuilds moments from stored sums (e.g. read from an `.npz`), validating shapes.
    public init(dimension: Int, count: Int, shift: [Double], sum: [Double], outer: [Double]) throws {
        guard dimension > 0, count >= 0, shift.count == dimension, sum.count == dimension,
            outer.count == dimension * dimension
        else {
            throw FlowError(
                "moments: inconsistent shapes (D \(dimension), shift \(shift.count), sum \(sum.count), outer \(outer.count)); expected D, D, D×D"
            )
        }
        guard shift.allSatisfy({ $0.isFinite }), sum.allSatisfy({ $0.isFinite }), outer.allSatisfy({ $0.isFinite })
        else {
            throw FlowError("moments: sums contain NaN or infinity; the source data had non-finite values")
        }
        self.dimension = dimension
        self.count = count
        self.shift = shift
        self.sum = sum
        self.outer = outer
    }

    /// Adds `rows` vectors of `dimension` floats (row-major). Non-finite values throw before anything is added.
    ///
    /// Rows are centred into a float64 block and accumulated with `dsyrk` (upper) and mirrored, 256 rows at a time.
    public mutating func add(_ x: UnsafePointer<Float>, rows: Int) throws {
        let d = dimension
        for i in 0..<(rows * d) where !x[i].isFinite {
            throw FlowError(
                "moments: sample \(i / d) has a non-finite value (NaN or inf) at coordinate \(i % d); the generator diverged or the file is corrupt"
            )
        }
        let block = 256
        var buf = [Double](repeating: 0, count: Swift.min(rows, block) * d)
        var acc = [Double](repeating: 0, count: d * d)
        var start = 0
        while start < rows {
            let nb = Swift.min(block, rows - start)
            buf.withUnsafeMutableBufferPointer { b in
                shift.withUnsafeBufferPointer { c in
                    sum.withUnsafeMutableBufferPointer { s in
                        for r in 0..<nb {
                            let src = x + (start + r) * d
                            for j in 0..<d {
                                let v = Double(src[j]) - c[j]
                                b[r * d + j] = v
                                s[j] += v
                            }
                        }
                    }
                }
                acc.withUnsafeMutableBufferPointer { a in
                    cblas_dsyrk(
                        CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(nb), 1.0,
                        b.baseAddress, Int32(d), 1.0, a.baseAddress, Int32(d))
                }
            }
            start += nb
        }
        outer.withUnsafeMutableBufferPointer { o in
            acc.withUnsafeBufferPointer { a in
                for i in 0..<d {
                    for j in i..<d {
                        o[i * d + j] += a[i * d + j]
                        if j != i { o[j * d + i] += a[i * d + j] }
                    }
                }
            }
        }
        count += rows
    }

    /// Adds vectors given as a Float array of `rows × dimension` values.
    public mutating func add(_ x: [Float]) throws {
        guard x.count % dimension == 0 else {
            throw FlowError("moments: \(x.count) values is not a whole number of \(dimension)-vectors")
        }
        try x.withUnsafeBufferPointer { try add($0.baseAddress!, rows: x.count / dimension) }
    }

    /// Adds another shard's sums. Same shift: exact elementwise addition (associative up to float64
    /// rounding of the additions). Different shift: `other` is first re-expressed about this shift.
    public mutating func merge(_ other: Moments) throws {
        guard other.dimension == dimension else {
            throw FlowError(
                "moments: cannot merge dimension \(other.dimension) into \(dimension); shards must use the same feature map"
            )
        }
        let o = other.shift == shift ? other : other.recentered(to: shift)
        count += o.count
        for j in 0..<dimension { sum[j] += o.sum[j] }
        for k in 0..<(dimension * dimension) { outer[k] += o.outer[k] }
    }

    /// The same moments about another shift c′: with δ = c − c′, Σ(x − c′) = s + nδ and
    /// Σ(x − c′)(x − c′)ᵀ = S + δsᵀ + sδᵀ + nδδᵀ.
    public func recentered(to newShift: [Double]) -> Moments {
        precondition(newShift.count == dimension)
        var r = Moments(dimension: dimension, shift: newShift)
        let d = dimension
        let n = Double(count)
        var delta = [Double](repeating: 0, count: d)
        for j in 0..<d { delta[j] = shift[j] - newShift[j] }
        r.count = count
        for j in 0..<d { r.sum[j] = sum[j] + n * delta[j] }
        for i in 0..<d {
            for j in 0..<d {
                r.outer[i * d + j] = outer[i * d + j] + delta[i] * sum[j] + sum[i] * delta[j] + n * delta[i] * delta[j]
            }
        }
        return r
    }

    /// Mean μ = c + s/n.
    public var mean: [Double] {
        let n = Double(Swift.max(count, 1))
        return (0..<dimension).map { shift[$0] + sum[$0] / n }
    }

    /// Unbiased covariance (ddof 1, as numpy `np.cov`, clean-fid and ADM): (S − n m mᵀ)/(n − 1), symmetrised.
    /// Throws when fewer than 2 vectors were added.
    public func covariance() throws -> [Double] {
        guard count >= 2 else {
            throw FlowError("moments: covariance needs at least 2 samples, have \(count); generate a larger set")
        }
        let d = dimension
        let n = Double(count)
        let m = sum.map { $0 / n }
        var c = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in i..<d {
                let v = (outer[i * d + j] - n * m[i] * m[j]) / (n - 1)
                c[i * d + j] = v
                c[j * d + i] = v
            }
        }
        return c
    }
}
