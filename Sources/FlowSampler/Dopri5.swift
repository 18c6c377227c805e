import FlowModels
import FlowTensor
import Foundation

/// One sample's velocity in float64 with guidance already applied (the interface `Dopri5` integrates).
protocol GuidedField64: AnyObject {
    /// Sets the sample's class label (and the null class for guidance).
    func setLabel(_ label: Int32)
    /// Writes the guided velocity at (x, t) into `out` (`dimension` doubles). Allocation-free.
    func velocity(t: Double, x: UnsafePointer<Double>, out: UnsafeMutablePointer<Double>)
}

/// Adaptive Dormand–Prince 5(4) for one sample: FSAL, standard step-size control, float64 state.
///
/// Error norm: RMS over coordinates of err_j / (atol + rtol · max(|y_j|, |y_new_j|)); a step is accepted when
/// the norm is ≤ 1; the next step is h · clamp(0.9 · norm^(−1/5), 0.2, 5). Every buffer is allocated at init.
final class Dopri5 {
    let n: Int
    let k: [UnsafeMutablePointer<Double>]  // k1…k7
    let y: UnsafeMutablePointer<Double>, yNew: UnsafeMutablePointer<Double>, tmp: UnsafeMutablePointer<Double>
    /// Steps (accepted or rejected) attempted before giving up.
    let maxSteps: Int

    /// How one solve ended.
    struct Outcome {
        /// Field evaluations.
        var nfe: Int
        /// Steps attempted, accepted or rejected.
        var steps: Int
        /// Time reached: 1 when the solve converged.
        var time: Double
        /// True when t = 1 was reached within `maxSteps`.
        var converged: Bool { time >= 1 }
    }

    // Dormand–Prince tableau.
    static let c: [Double] = [0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1]
    static let a: [[Double]] = [
        [],
        [1.0 / 5],
        [3.0 / 40, 9.0 / 40],
        [44.0 / 45, -56.0 / 15, 32.0 / 9],
        [19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729],
        [9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656],
        [35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84],
    ]
    /// 5th-order weights minus 4th-order weights (error estimate).
    static let e: [Double] = [71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40]

    init(dimension: Int, maxSteps: Int) {
        n = dimension
        self.maxSteps = maxSteps
        k = (0..<7).map { _ in UnsafeMutablePointer<Double>.allocate(capacity: dimension) }
        y = .allocate(capacity: dimension)
        yNew = .allocate(capacity: dimension)
        tmp = .allocate(capacity: dimension)
    }

    deinit {
        for p in k { p.deallocate() }
        y.deallocate()
        yNew.deallocate()
        tmp.deallocate()
    }

    /// Integrates `state` (n doubles) from t = 0 to t = 1 in place. When `maxSteps` run out first, `state` holds
    /// the solution at the time reached and the outcome says so.
    func solve(_ f: GuidedField64, state: UnsafeMutablePointer<Double>, rtol: Double, atol: Double) -> Outcome {
        for j in 0..<n { y[j] = state[j] }
        var t = 0.0
        var h = 0.01
        var nfe = 0
        var steps = 0
        f.velocity(t: t, x: y, out: k[0])
        nfe += 1
        while t < 1 {
            if steps >= maxSteps { break }
            steps += 1
            if t + h > 1 { h = 1 - t }
            for s in 1..<7 {
                let row = Dopri5.a[s]
                for j in 0..<n {
                    var acc = 0.0
                    for q in 0..<s { acc += row[q] * k[q][j] }
                    tmp[j] = y[j] + h * acc
                }
                f.velocity(t: t + Dopri5.c[s] * h, x: tmp, out: k[s])
                nfe += 1
                if s == 6 { for j in 0..<n { yNew[j] = tmp[j] } }
            }
            var sum = 0.0
            for j in 0..<n {
                var err = 0.0
                for q in 0..<7 { err += Dopri5.e[q] * k[q][j] }
                err *= h
                let scale = atol + rtol * max(abs(y[j]), abs(yNew[j]))
                sum += (err / scale) * (err / scale)
            }
            let norm = (sum / Double(n)).squareRoot()
            if norm <= 1 {
                t = (1 - t < 1e-15 || t + h >= 1) ? 1 : t + h
                for j in 0..<n {  // FSAL
                    y[j] = yNew[j]
                    k[0][j] = k[6][j]
                }
            }
            let factor = norm == 0 ? 5 : min(5, max(0.2, 0.9 * pow(norm, -0.2)))
            h *= factor
        }
        for j in 0..<n { state[j] = y[j] }
        return Outcome(nfe: nfe, steps: steps, time: t)
    }
}
