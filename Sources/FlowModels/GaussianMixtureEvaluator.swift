import FlowTensor
import Foundation

/// Float32 evaluator of a `GaussianMixtureField`: float64 inside, every buffer allocated at creation.
final class GaussianMixtureEvaluator: VelocityEvaluator {
    let field: GaussianMixtureField
    let maxRows: Int
    let times: [Double]
    let logDets: UnsafeMutablePointer<Double>  // times.count × K·M
    let labels: UnsafeMutablePointer<Int32>
    let x64: UnsafeMutablePointer<Double>, out64: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>
    var rows = 0

    init(field: GaussianMixtureField, maxRows: Int, times: [Float]) {
        self.field = field
        self.maxRows = maxRows
        self.times = times.map(Double.init)
        let km = field.totalComponents
        let d = field.dimension
        logDets = .allocate(capacity: max(1, times.count * km))
        for (i, t) in self.times.enumerated() {
            for k in 0..<km { logDets[i * km + k] = field.logDet(component: k, t: t) }
        }
        labels = .allocate(capacity: max(1, maxRows))
        x64 = .allocate(capacity: d)
        out64 = .allocate(capacity: d)
        scratch = .allocate(capacity: km)
    }

    deinit {
        logDets.deallocate()
        labels.deallocate()
        x64.deallocate()
        out64.deallocate()
        scratch.deallocate()
    }

    func setLabels(_ labels: UnsafePointer<Int32>, rows: Int) {
        precondition(rows <= maxRows, "GaussianMixtureEvaluator: \(rows) rows > maxRows \(maxRows)")
        self.rows = rows
        for i in 0..<rows { self.labels[i] = labels[i] }
    }

    func evaluate(x: UnsafePointer<Float>, v: UnsafePointer<Float>?, timeIndex: Int, out: UnsafeMutablePointer<Float>) {
        run(x: x, t: times[timeIndex], logDets: UnsafePointer(logDets + timeIndex * field.totalComponents), out: out)
    }

    func evaluate(x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: Float, out: UnsafeMutablePointer<Float>) {
        run(x: x, t: Double(t), logDets: nil, out: out)
    }

    @inline(__always)
    private func run(
        x: UnsafePointer<Float>, t: Double, logDets: UnsafePointer<Double>?, out: UnsafeMutablePointer<Float>
    ) {
        let d = field.dimension
        for r in 0..<rows {
            for j in 0..<d { x64[j] = Double(x[r * d + j]) }
            field.velocity(x: x64, t: t, label: labels[r], out: out64, scratch: scratch, logDets: logDets)
            for j in 0..<d { out[r * d + j] = Float(out64[j]) }
        }
    }
}
