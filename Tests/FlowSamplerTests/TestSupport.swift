import FlowModels
import FlowSampler
import Foundation

/// A synthetic refiner built on a Gaussian mixture: r(x, v, t, y) = α (v*(x, t, y) − v) + β tanh(v), returned as r + v.
/// Nontrivial in every input (x, v, t, label), so plan/guidance semantics are checked, not just wiring.
final class MixtureRefiner: VelocityField {
    let base: GaussianMixtureField
    let alpha: Double, beta: Double
    init(base: GaussianMixtureField, alpha: Double = 0.7, beta: Double = 0.2) {
        self.base = base
        self.alpha = alpha
        self.beta = beta
    }
    var sampleShape: [Int] { base.sampleShape }
    var numClasses: Int { base.numClasses }
    var isRefiner: Bool { true }
    var flopsPerRow: Double { 0 }
    func makeEvaluator(maxRows: Int, times: [Float]) -> VelocityEvaluator { Eval(self, maxRows, times) }

    /// Float64 offset r (without + v), for the naive reference.
    func offset(x: [Double], v: [Double], t: Double, label: Int32) -> [Double] {
        let vstar = naiveVelocity(base, x: x, t: t, label: label)
        return (0..<x.count).map { alpha * (vstar[$0] - v[$0]) + beta * tanh(v[$0]) }
    }

    final class Eval: VelocityEvaluator {
        let r: MixtureRefiner
        let times: [Float]
        var labels: [Int32]
        var rows = 0
        let x64, v64, o64, scratch: UnsafeMutablePointer<Double>
        init(_ r: MixtureRefiner, _ maxRows: Int, _ times: [Float]) {
            self.r = r
            self.times = times
            labels = Array(repeating: 0, count: maxRows)
            let d = r.base.dimension
            x64 = .allocate(capacity: d)
            v64 = .allocate(capacity: d)
            o64 = .allocate(capacity: d)
            scratch = .allocate(capacity: r.base.scratchSize)
        }
        func setLabels(_ l: UnsafePointer<Int32>, rows: Int) {
            self.rows = rows
            for i in 0..<rows { labels[i] = l[i] }
        }
        func evaluate(
            x: UnsafePointer<Float>, v: UnsafePointer<Float>?, timeIndex: Int, out: UnsafeMutablePointer<Float>
        ) {
            evaluate(x: x, v: v, t: times[timeIndex], out: out)
        }
        func evaluate(x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: Float, out: UnsafeMutablePointer<Float>) {
            let d = r.base.dimension
            for row in 0..<rows {
                for j in 0..<d {
                    x64[j] = Double(x[row * d + j])
                    v64[j] = Double(v![row * d + j])
                }
                r.base.velocity(x: x64, t: Double(t), label: labels[row], out: o64, scratch: scratch)
                for j in 0..<d {
                    let off = r.alpha * (o64[j] - v64[j]) + r.beta * tanh(v64[j])
                    out[row * d + j] = Float(off + v64[j])
                }
            }
        }
    }
}

/// Wraps a field and counts evaluate calls and rows (for NFE accounting tests); `setLabelsDelay` makes each
/// per-batch `setLabels` take that many seconds (stands in for an expensive conditioning precompute).
final class CountingField: VelocityField {
    let inner: VelocityField
    let setLabelsDelay: Double
    var calls = 0, rows = 0, maxRowsSeen = 0
    init(_ inner: VelocityField, setLabelsDelay: Double = 0) {
        self.inner = inner
        self.setLabelsDelay = setLabelsDelay
    }
    var sampleShape: [Int] { inner.sampleShape }
    var numClasses: Int { inner.numClasses }
    var isRefiner: Bool { inner.isRefiner }
    var flopsPerRow: Double { 0 }
    func makeEvaluator(maxRows: Int, times: [Float]) -> VelocityEvaluator {
        Eval(self, inner.makeEvaluator(maxRows: maxRows, times: times))
    }
    final class Eval: VelocityEvaluator {
        let owner: CountingField
        let inner: VelocityEvaluator
        var rows = 0
        init(_ o: CountingField, _ i: VelocityEvaluator) {
            owner = o
            inner = i
        }
        func setLabels(_ l: UnsafePointer<Int32>, rows: Int) {
            if owner.setLabelsDelay > 0 { usleep(UInt32(owner.setLabelsDelay * 1e6)) }
            self.rows = rows
            inner.setLabels(l, rows: rows)
        }
        func evaluate(
            x: UnsafePointer<Float>, v: UnsafePointer<Float>?, timeIndex: Int, out: UnsafeMutablePointer<Float>
        ) {
            owner.calls += 1
            owner.rows += rows
            owner.maxRowsSeen = max(owner.maxRowsSeen, rows)
            inner.evaluate(x: x, v: v, timeIndex: timeIndex, out: out)
        }
        func evaluate(x: UnsafePointer<Float>, v: UnsafePointer<Float>?, t: Float, out: UnsafeMutablePointer<Float>) {
            owner.calls += 1
            owner.rows += rows
            inner.evaluate(x: x, v: v, t: t, out: out)
        }
    }
}

/// Float64 velocity of one row through the mixture's public float64 path.
func naiveVelocity(_ f: GaussianMixtureField, x: [Double], t: Double, label: Int32) -> [Double] {
    var out = [Double](repeating: 0, count: x.count)
    var scratch = [Double](repeating: 0, count: f.scratchSize)
    x.withUnsafeBufferPointer { xb in
        out.withUnsafeMutableBufferPointer { ob in
            scratch.withUnsafeMutableBufferPointer { sb in
                f.velocity(x: xb.baseAddress!, t: t, label: label, out: ob.baseAddress!, scratch: sb.baseAddress!)
            }
        }
    }
    return out
}

/// Straight-from-docs/ALGORITHM.md float64 sampler for one sample (no buffers, no fusion): the independent reference.
func naiveSample(
    field: GaussianMixtureField, refiner: MixtureRefiner?, plan: (h: Int, p: Int, r: Int, euler: Int),
    refinerEuler: Bool, scale: Double, guidedCount: Int?, x0: [Double], label: Int32
) -> [Double] {
    let n = plan.euler > 0 ? plan.euler : plan.h + plan.p + plan.r
    let dt = 1.0 / Double(n)
    let null = Int32(field.numClasses)
    func tf(_ i: Int) -> Double { Double(Float(i) / Float(n)) }
    func guide(_ c: [Double], _ u: [Double]) -> [Double] {
        if scale == 1 { return c }
        return (0..<c.count).map { j in j < (guidedCount ?? c.count) ? u[j] + scale * (c[j] - u[j]) : c[j] }
    }
    func v(_ x: [Double], _ i: Int) -> [Double] {
        guide(naiveVelocity(field, x: x, t: tf(i), label: label), naiveVelocity(field, x: x, t: tf(i), label: null))
    }
    func rv(_ x: [Double], _ vp: [Double], _ i: Int) -> [Double] {
        let c = zip(refiner!.offset(x: x, v: vp, t: tf(i), label: label), vp).map { $0 + $1 }
        let u = zip(refiner!.offset(x: x, v: vp, t: tf(i), label: null), vp).map { $0 + $1 }
        return guide(c, u)
    }
    func axpy(_ x: [Double], _ a: Double, _ y: [Double]) -> [Double] { zip(x, y).map { $0 + a * $1 } }
    var x = x0
    var cache: [Double]? = nil
    var i = 0
    if plan.euler > 0 {
        for _ in 0..<plan.euler {
            x = axpy(x, dt, v(x, i))
            i += 1
        }
        return x
    }
    for k in 0..<(plan.h + plan.p) {
        let di = (k < plan.h || cache == nil) ? v(x, i) : cache!
        let xt = axpy(x, dt, di)
        let dp = v(xt, i + 1)
        x = zip(x, zip(di, dp)).map { $0 + dt / 2 * ($1.0 + $1.1) }
        cache = dp
        i += 1
    }
    for _ in 0..<plan.r {
        let vp = cache ?? v(x, i)
        let di = rv(x, vp, i)
        if refinerEuler {
            x = axpy(x, dt, di)
        } else {
            let xt = axpy(x, dt, di)
            let dp = rv(xt, di, i + 1)
            x = zip(x, zip(di, dp)).map { $0 + dt / 2 * ($1.0 + $1.1) }
        }
        cache = di
        i += 1
    }
    return x
}

/// Runs a program over `n` samples in batches of its batch size (the sampler's batch driver); returns all outputs.
func runAll(_ p: SamplingProgram, seed: UInt64, n: Int, labels: [Int32], batch: Int) throws -> [Float] {
    let s = p.sampleShape.reduce(1, *)
    var out = [Float](repeating: 0, count: n * s)
    try out.withUnsafeMutableBufferPointer { ob in
        try p.sample(seed: seed, count: n, batch: batch, conditions: .labels(labels), out: ob.baseAddress!)
    }
    return out
}

/// A one-class, one-component mixture N(μ, diag σ²): its flow map is x1 = μ + σ ⊙ x0 (closed form).
func singleGaussian(d: Int) -> GaussianMixtureField {
    let mu = (0..<d).map { 0.5 * Double($0) - 1 }
    let v = (0..<d).map { pow(0.4 + 0.1 * Double($0), 2) }
    return try! GaussianMixtureField(
        sampleShape: [d], numClasses: 1, componentsPerClass: 1, weights: [1], means: mu, variances: v)
}
