import FlowTensor

/// The fused passes of `SamplingProgram.run`: each combines guidance, the solver update and the next model input
/// in one pass over the batch (no allocation).
extension SamplingProgram {
    // MARK: fused passes (guidance combine + solver update + next input, one pass over the batch)

    /// Guided velocity of flat element `j`: `guidedEnd` is the end of the guided prefix of j's row
    /// (row start + guidedCount), so the channel test is one compare, no division.
    @inline(__always)
    func g(_ j: Int, _ half: Int, _ guidedEnd: Int) -> Float {
        if half == 0 { return vout[j] }
        let c = vout[j]
        if j >= guidedEnd { return c }
        let u = vout[half + j]
        return u + scale * (c - u)
    }

    func copyToInput(from src: UnsafeMutablePointer<Float>, n: Int, half: Int) {
        for j in 0..<n { xin[j] = src[j] }
        if half > 0 { for j in 0..<n { xin[half + j] = src[j] } }
    }

    func copyToV(from src: UnsafeMutablePointer<Float>, n: Int, half: Int) {
        for j in 0..<n { vin[j] = src[j] }
        if half > 0 { for j in 0..<n { vin[half + j] = src[j] } }
    }

    func guideInto(_ dst: UnsafeMutablePointer<Float>, n: Int, half: Int) {
        var row = 0
        while row < n {
            let end = row + guidedCount
            for j in row..<(row + sampleSize) { dst[j] = g(j, half, end) }
            row += sampleSize
        }
    }

    func fusedPredict(n: Int, half: Int, h: Float) {
        var row = 0
        while row < n {
            let end = row + guidedCount
            for j in row..<(row + sampleSize) {
                let v = g(j, half, end)
                d[j] = v
                let y = x[j] + h * v
                xin[j] = y
                if half > 0 { xin[half + j] = y }
            }
            row += sampleSize
        }
    }

    func predictFromD(n: Int, half: Int, h: Float) {
        for j in 0..<n {
            let y = x[j] + h * d[j]
            xin[j] = y
            if half > 0 { xin[half + j] = y }
        }
    }

    func fusedCorrect(n: Int, half: Int, h2: Float) {
        var row = 0
        while row < n {
            let end = row + guidedCount
            for j in row..<(row + sampleSize) {
                let v = g(j, half, end)
                let y = x[j] + h2 * (d[j] + v)
                x[j] = y
                cache[j] = v
                xin[j] = y
                if half > 0 { xin[half + j] = y }
            }
            row += sampleSize
        }
    }

    func fusedEuler(n: Int, half: Int, h: Float) {
        var row = 0
        while row < n {
            let end = row + guidedCount
            for j in row..<(row + sampleSize) {
                let v = g(j, half, end)
                d[j] = v
                let y = x[j] + h * v
                x[j] = y
                xin[j] = y
                if half > 0 { xin[half + j] = y }
            }
            row += sampleSize
        }
    }

    func fusedRefinePredict(n: Int, half: Int, h: Float) {
        var row = 0
        while row < n {
            let end = row + guidedCount
            for j in row..<(row + sampleSize) {
                let v = g(j, half, end)
                d[j] = v
                let y = x[j] + h * v
                xin[j] = y
                vin[j] = v
                if half > 0 { xin[half + j] = y; vin[half + j] = v }
            }
            row += sampleSize
        }
    }

    func fusedRefineCorrect(n: Int, half: Int, h2: Float) {
        var row = 0
        while row < n {
            let end = row + guidedCount
            for j in row..<(row + sampleSize) {
                let y = x[j] + h2 * (d[j] + g(j, half, end))
                x[j] = y
                xin[j] = y
                if half > 0 { xin[half + j] = y }
            }
            row += sampleSize
        }
    }
}
