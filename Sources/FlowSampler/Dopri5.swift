import FlowTensor
import Foundation
import FlowModels

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
    let k: [UnsafeMutablePointer<Double>]   // k1…k7
    let y: UnsafeMutablePointer<Double>, yNew: UnsafeMutablePointer<Double>, tmp: UnsafeMutablePointer<Double>
    /// Steps attempted before giving up (the state is then returned as is and `failed` is set).
    var maxSteps = 100_000
    /// Set when the last solve hit `maxSteps`.
    var failed = false

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

    init(dimension: Int) {
        n = dimension
        k = (0..<7).map { _ in UnsafeMutablePointer<Double>.allocate(capacity: dimension) }
        y = .allocate(capacity: dimension); yNew = .allocate(capacity: dimension); tmp = .allocate(capacity: dimension)
    }

    deinit { for p in k { p.deallocate() }; y.deallocate(); yNew.deallocate(); tmp.deallocate() }

    /// Integrates `state` (n doubles) from t = 0 to t = 1 in place; returns the number of field evaluations.
    func solve(_ f: GuidedField64, state: UnsafeMutablePointer<Double>, rtol: Double, atol: Double) -> Int {
        failed = false
        for j in 0..<n { y[j] = state[j] }
        var t = 0.0, h = 0.01, nfe = 0, steps = 0
        f.velocity(t: t, x: y, out: k[0]); nfe += 1
        while t < 1 {
            if steps >= maxSteps { failed = true; break }
            steps += 1
            if t + h > 1 { h = 1 - t }
            for s in 1..<7 {
                let row = Dopri5.a[s]
                for j in 0..<n {
                    var acc = 0.0
                    for q in 0..<s { acc += row[q] * k[q][j] }
                    tmp[j] = y[j] + h * acc
                }
                f.velocity(t: t + Dopri5.c[s] * h, x: tmp, out: k[s]); nfe += 1
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
                for j in 0..<n { y[j] = yNew[j]; k[0][j] = k[6][j] }   // FSAL
            }
            let factor = norm == 0 ? 5 : min(5, max(0.2, 0.9 * pow(norm, -0.2)))
            h *= factor
        }
        for j in 0..<n { state[j] = y[j] }
        return nfe
    }
}

/// Guided float64 velocity of a Gaussian-mixture field, evaluated natively in float64 (the reference path).
final class MixtureField64: GuidedField64 {
    let field: GaussianMixtureField
    let scale: Double
    let guidedCount: Int
    var label: Int32 = 0
    let vc: UnsafeMutablePointer<Double>, vn: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>

    init(field: GaussianMixtureField, guidance: Guidance, guidedCount: Int) {
        self.field = field
        scale = Double(guidance.scale)
        self.guidedCount = guidedCount
        vc = .allocate(capacity: field.dimension); vn = .allocate(capacity: field.dimension)
        scratch = .allocate(capacity: field.scratchSize)
    }

    deinit { vc.deallocate(); vn.deallocate(); scratch.deallocate() }

    func setLabel(_ label: Int32) { self.label = label }

    func velocity(t: Double, x: UnsafePointer<Double>, out: UnsafeMutablePointer<Double>) {
        if scale == 1 {
            field.velocity(x: x, t: t, label: label, out: out, scratch: scratch)
            return
        }
        field.velocity(x: x, t: t, label: label, out: vc, scratch: scratch)
        field.velocity(x: x, t: t, label: Int32(field.numClasses), out: vn, scratch: scratch)
        for j in 0..<field.dimension {
            out[j] = j < guidedCount ? vn[j] + scale * (vc[j] - vn[j]) : vc[j]
        }
    }
}

/// Guided velocity of any `VelocityField` through its float32 evaluator (rows [cond; null] in one call).
final class EvaluatorField64: GuidedField64 {
    let evaluator: VelocityEvaluator
    let n: Int
    let scale: Float
    let guidedCount: Int
    let nullLabel: Int32
    let labels: UnsafeMutablePointer<Int32>
    let xin: UnsafeMutablePointer<Float>, vout: UnsafeMutablePointer<Float>
    /// Wall seconds spent inside `evaluate` since the last reset.
    var modelSeconds = 0.0

    init(field: VelocityField, guidance: Guidance, guidedCount: Int) {
        n = field.sampleSize
        scale = guidance.scale
        self.guidedCount = guidedCount
        nullLabel = Int32(field.numClasses)
        evaluator = field.makeEvaluator(maxRows: 2, times: [])
        labels = .allocate(capacity: 2)
        xin = .allocate(capacity: 2 * n); vout = .allocate(capacity: 2 * n)
    }

    deinit { labels.deallocate(); xin.deallocate(); vout.deallocate() }

    func setLabel(_ label: Int32) {
        labels[0] = label
        labels[1] = nullLabel
        evaluator.setLabels(labels, rows: scale == 1 ? 1 : 2)
    }

    func velocity(t: Double, x: UnsafePointer<Double>, out: UnsafeMutablePointer<Double>) {
        let guided = scale != 1
        for j in 0..<n {
            xin[j] = Float(x[j])
            if guided { xin[n + j] = Float(x[j]) }
        }
        let start = Clock.now()
        evaluator.evaluate(x: xin, v: nil, t: Float(t), out: vout)
        modelSeconds += Clock.now() - start
        for j in 0..<n {
            if guided && j < guidedCount {
                out[j] = Double(vout[n + j] + scale * (vout[j] - vout[n + j]))
            } else {
                out[j] = Double(vout[j])
            }
        }
    }
}

