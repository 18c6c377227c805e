import FlowModels
import FlowTensor

/// Guided velocity of a field with a native float64 form (`VelocityField.float64`, e.g. the Gaussian mixture).
final class MixtureField64: GuidedField64 {
    let field: Float64VelocityField
    let scale: Double
    let guidedCount: Int
    var label: Int32 = 0
    let vc: UnsafeMutablePointer<Double>, vn: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>

    init(field: Float64VelocityField, guidance: Guidance, guidedCount: Int) {
        self.field = field
        scale = Double(guidance.scale)
        self.guidedCount = guidedCount
        vc = .allocate(capacity: field.dimension)
        vn = .allocate(capacity: field.dimension)
        scratch = .allocate(capacity: field.scratchSize)
    }

    deinit {
        vc.deallocate()
        vn.deallocate()
        scratch.deallocate()
    }

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
        xin = .allocate(capacity: 2 * n)
        vout = .allocate(capacity: 2 * n)
    }

    deinit {
        labels.deallocate()
        xin.deallocate()
        vout.deallocate()
    }

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
