import FlowTensor

/// One fused pass of `FixedStepProgram.run` over the batch: guidance combine, solver update and the next model input
/// in one sweep (no allocation). Each case names what it writes; v is the guided velocity g(vout) unless noted.
enum RowPass {
    /// dst = v (bootstraps the refiner's v_prev).
    case guide(into: UnsafeMutablePointer<Float>)
    /// d = v; xin = x + h v (the predictor half of a Heun step).
    case predict(Float)
    /// xin = x + h d with d the cached velocity, no model output read (a pseudo-corrector step).
    case predictFromD(Float)
    /// cache = v; x += h/2 (d + v); xin = x (the corrector half of a Heun step).
    case correct(Float, cache: UnsafeMutablePointer<Float>)
    /// d = v; x += h v; xin = x.
    case euler(Float)
    /// d = v; xin = x + h v; vin = v (the predictor half of a Heun refiner step).
    case refinePredict(Float)
    /// x += h/2 (d + v); xin = x (the corrector half of a Heun refiner step).
    case refineCorrect(Float)
}

extension FixedStepProgram {
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

    /// Copies `n` floats of `src` into both halves of `dst` (the second only with guidance, `half` > 0).
    func broadcast(_ src: UnsafeMutablePointer<Float>, into dst: UnsafeMutablePointer<Float>, n: Int, half: Int) {
        for j in 0..<n { dst[j] = src[j] }
        if half > 0 { for j in 0..<n { dst[half + j] = src[j] } }
    }

    /// Runs `pass` over the first `n` floats of the state (`half` = offset of the null half, 0 without guidance).
    @inline(__always)
    func rowPass(_ pass: RowPass, n: Int, half: Int) {
        var fromD = false  // v = d instead of g(vout)
        var store: UnsafeMutablePointer<Float>? = nil  // where v is kept
        var h: Float = 0
        var average = false  // y = x + h (d + v) instead of x + h v
        var update = true  // compute y and write it to xin
        var commit = false  // x = y
        var toVin = false  // vin = v
        switch pass {
        case .guide(let dst):
            store = dst
            update = false
        case .predict(let step):
            (store, h) = (d, step)
        case .predictFromD(let step):
            (fromD, h) = (true, step)
        case .correct(let step, let cache):
            (store, h, average, commit) = (cache, step, true, true)
        case .euler(let step):
            (store, h, commit) = (d, step, true)
        case .refinePredict(let step):
            (store, h, toVin) = (d, step, true)
        case .refineCorrect(let step):
            (h, average, commit) = (step, true, true)
        }
        var row = 0
        while row < n {
            let end = row + guidedCount
            for j in row..<(row + sampleSize) {
                let v = fromD ? d[j] : g(j, half, end)
                if let store { store[j] = v }
                guard update else { continue }
                let y = average ? x[j] + h * (d[j] + v) : x[j] + h * v
                if commit { x[j] = y }
                xin[j] = y
                if half > 0 { xin[half + j] = y }
                if toVin {
                    vin[j] = v
                    if half > 0 { vin[half + j] = v }
                }
            }
            row += sampleSize
        }
    }
}
