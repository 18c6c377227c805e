import COpenBLAS

/// Blocked Euclidean distances in float64: d(a_i, b_j) = √max(0, ‖a_i‖² + ‖b_j‖² − 2 a_i·b_j).
///
/// Used by PRDC so 10k × 10k comparisons never hold the full matrix: callers visit one block of
/// rows of A at a time (`forEachBlock`).
struct PairwiseDistances {
    let a: [Double], b: [Double]
    let n: Int, m: Int, d: Int
    let na: [Double], nb: [Double]

    init(a: [Double], n: Int, b: [Double], m: Int, d: Int) {
        self.a = a
        self.b = b
        self.n = n
        self.m = m
        self.d = d
        na = (0..<n).map { i in
            var s = 0.0
            for k in 0..<d { s += a[i * d + k] * a[i * d + k] }
            return s
        }
        nb = (0..<m).map { j in
            var s = 0.0
            for k in 0..<d { s += b[j * d + k] * b[j * d + k] }
            return s
        }
    }

    /// Calls `body(firstRow, rows, distances)` with a rows × m block of distances for rows of A.
    func forEachBlock(blockRows: Int = 256, _ body: (Int, Int, UnsafePointer<Double>) -> Void) {
        var buf = [Double](repeating: 0, count: Swift.min(blockRows, n) * m)
        var start = 0
        while start < n {
            let rows = Swift.min(blockRows, n - start)
            buf.withUnsafeMutableBufferPointer { p in
                a.withUnsafeBufferPointer { ap in
                    cblas_dgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(m), Int32(d), -2,
                        ap.baseAddress! + start * d, Int32(d), b, Int32(d), 0, p.baseAddress, Int32(m))
                }
                nb.withUnsafeBufferPointer { nbp in
                    for r in 0..<rows {
                        let ai = na[start + r]
                        let row = p.baseAddress! + r * m
                        for j in 0..<m { row[j] = Swift.max(0, row[j] + ai + nbp[j]).squareRoot() }
                    }
                }
                body(start, rows, p.baseAddress!)
            }
            start += rows
        }
    }
}

/// k-th nearest-neighbour radius of every row of X within X (the (k+1)-th smallest distance including self).
func nearestNeighbourRadii(_ x: [Double], n: Int, d: Int, k: Int) -> [Double] {
    nearestNeighbourRadii(x, n: n, d: d, ks: [k])[0]
}

/// Radii for several k from one pass over the distances: quickselect the largest k, then the smaller
/// ones inside the prefix it leaves (every element before position kmax is ≤ the kmax-th).
func nearestNeighbourRadii(_ x: [Double], n: Int, d: Int, ks: [Int]) -> [[Double]] {
    var radii = [[Double]](repeating: [Double](repeating: 0, count: n), count: ks.count)
    let pd = PairwiseDistances(a: x, n: n, b: x, m: n, d: d)
    var row = [Double](repeating: 0, count: n)
    let kk = ks.map { Swift.min($0, n - 1) }
    let order = kk.indices.sorted { kk[$0] > kk[$1] }
    pd.forEachBlock { first, rows, dist in
        for r in 0..<rows {
            row.withUnsafeMutableBufferPointer { rp in for j in 0..<n { rp[j] = dist[r * n + j] } }
            row[first + r] = 0  // self distance exactly 0 (rounding may leave a tiny positive value)
            var limit = n
            for i in order {
                radii[i][first + r] = kthSmallest(&row, kk[i], count: limit)
                limit = kk[i] + 1
            }
        }
    }
    return radii
}

/// The k-th smallest (0-based) of the first `count` elements (all when nil), by quickselect (reorders `v`).
func kthSmallest(_ v: inout [Double], _ k: Int, count: Int? = nil) -> Double {
    let n = count ?? v.count
    return v.withUnsafeMutableBufferPointer { p -> Double in
        var lo = 0
        var hi = n - 1
        while lo < hi {
            let pivot = p[(lo + hi) / 2]
            var i = lo
            var j = hi
            while i <= j {
                while p[i] < pivot { i += 1 }
                while p[j] > pivot { j -= 1 }
                if i <= j {
                    let t = p[i]
                    p[i] = p[j]
                    p[j] = t
                    i += 1
                    j -= 1
                }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return p[k] }
        }
        return p[k]
    }
}
