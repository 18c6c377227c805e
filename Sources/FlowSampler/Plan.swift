import FlowTensor

/// A sampling plan: which blocks run on the uniform time grid t_i = i/N (docs/ALGORITHM.md).
///
/// Grammar: `H{a}P{b}R{c}` (each part optional, in this order, at least one step in total),
/// `E{n}` (Euler) or `dopri5` (adaptive Dormand–Prince 5(4) reference). N = a + b + c or n.
public struct Plan: Equatable, CustomStringConvertible {
    /// The plan's kind.
    public enum Kind: Equatable {
        /// FlowTurbo blocks: `heun` Heun steps, then `pseudo` pseudo-corrector steps, then `refine` refiner steps.
        case turbo(heun: Int, pseudo: Int, refine: Int)
        /// `steps` explicit Euler steps.
        case euler(steps: Int)
        /// Adaptive Dormand–Prince 5(4); tolerances come from `SamplerOptions`.
        case dopri5
    }

    /// The plan's kind and step counts.
    public var kind: Kind

    /// The grammar, quoted in every parse error.
    public static let grammar = "expected H{a}P{b}R{c} (parts optional, in this order, e.g. H2P4R2), E{n} or dopri5"

    /// Creates a plan from its kind (no validation; prefer `parse`).
    public init(_ kind: Kind) { self.kind = kind }

    /// Parses a plan string such as `H2P4R2`, `H1P5`, `E8` or `dopri5`; the error shows the grammar.
    public static func parse(_ s: String) throws -> Plan {
        let fail = FlowError("invalid plan \"\(s)\": \(grammar)")
        if s == "dopri5" { return Plan(.dopri5) }
        let chars = Array(s.utf8)
        guard !chars.isEmpty else { throw FlowError("empty plan: \(grammar)") }
        var i = 0
        func number() throws -> Int {
            var v = 0
            var digits = 0
            while i < chars.count, chars[i] >= 48, chars[i] <= 57 {
                v = v * 10 + Int(chars[i] - 48)
                digits += 1
                i += 1
                if v > 1_000_000 { throw FlowError("invalid plan \"\(s)\": step count too large; \(grammar)") }
            }
            if digits == 0 { throw fail }
            return v
        }
        if chars[0] == UInt8(ascii: "E") {
            i = 1
            let n = try number()
            guard i == chars.count, n > 0 else { throw fail }
            return Plan(.euler(steps: n))
        }
        var counts = [0, 0, 0]
        var last = -1
        while i < chars.count {
            let part: Int
            switch chars[i] {
            case UInt8(ascii: "H"): part = 0
            case UInt8(ascii: "P"): part = 1
            case UInt8(ascii: "R"): part = 2
            default: throw fail
            }
            guard part > last else { throw fail }
            last = part
            i += 1
            counts[part] = try number()
        }
        guard counts[0] + counts[1] + counts[2] > 0 else { throw fail }
        return Plan(.turbo(heun: counts[0], pseudo: counts[1], refine: counts[2]))
    }

    /// Total steps N on the uniform grid (0 for dopri5, whose grid is adaptive).
    public var steps: Int {
        switch kind {
        case .turbo(let h, let p, let r): return h + p + r
        case .euler(let n): return n
        case .dopri5: return 0
        }
    }

    /// Whether the plan calls a refiner.
    public var needsRefiner: Bool {
        if case .turbo(_, _, let r) = kind { return r > 0 }
        return false
    }

    /// Predictor calls per sample (without the ×2 rows of guidance): H = 2, P = 1, plus one for the
    /// first step when no velocity is cached yet (a plan starting with P or R). 0 for dopri5 (adaptive).
    public var predictorNFE: Int {
        switch kind {
        case .turbo(let h, let p, let r):
            let bootstrap = (h == 0 && (p > 0 || r > 0)) ? 1 : 0
            return 2 * h + p + bootstrap
        case .euler(let n): return n
        case .dopri5: return 0
        }
    }

    /// Refiner calls per sample for the default Heun-shaped R step (2 per R step).
    public var refinerNFE: Int { refinerNFE(for: .heun) }

    /// Refiner calls per sample for the given R-step shape (Heun 2, Euler 1 per R step).
    public func refinerNFE(for step: RefinerStep) -> Int {
        guard case .turbo(_, _, let r) = kind else { return 0 }
        return step == .heun ? 2 * r : r
    }

    /// The canonical plan string (parses back to the same plan).
    public var description: String {
        switch kind {
        case .turbo(let h, let p, let r):
            var s = ""
            if h > 0 { s += "H\(h)" }
            if p > 0 { s += "P\(p)" }
            if r > 0 { s += "R\(r)" }
            return s
        case .euler(let n): return "E\(n)"
        case .dopri5: return "dopri5"
        }
    }
}

/// Shape of a refiner (R) step: Heun-shaped with two refiner calls (the public code) or Euler-shaped with one.
public enum RefinerStep: String, CaseIterable {
    /// d_i = r(x_i, v_prev) + v_prev; x̃ = x_i + Δt d_i; d' = r(x̃, d_i) + d_i; x_{i+1} = x_i + Δt/2 (d_i + d').
    case heun
    /// d_i = r(x_i, v_prev) + v_prev; x_{i+1} = x_i + Δt d_i.
    case euler
}

/// Classifier-free guidance: v = v_null + scale · (v_cond − v_null) after every model call.
public struct Guidance: Equatable {
    /// Guidance scale s; 1 disables guidance (the null half is skipped entirely).
    public var scale: Float
    /// Guided leading channels: nil = all (default); 3 = the official DiT/SiT quirk (other channels take v_cond).
    public var channels: Int?
    /// Creates a guidance setting.
    public init(scale: Float = 1, channels: Int? = nil) {
        self.scale = scale
        self.channels = channels
    }
    /// Whether a null half is evaluated at all.
    public var isActive: Bool { scale != 1 }
}

/// Everything a `SamplingProgram` is compiled for, besides the models.
public struct SamplerOptions {
    /// Which blocks run.
    public var plan: Plan
    /// Classifier-free guidance.
    public var guidance: Guidance
    /// Shape of R steps.
    public var refinerStep: RefinerStep
    /// Maximum samples per `run` call (buffers are sized for it, ×2 rows with guidance).
    public var batch: Int
    /// dopri5 relative tolerance.
    public var rtol: Double
    /// dopri5 absolute tolerance.
    public var atol: Double
    /// dopri5 steps (accepted or rejected) per sample before the solve fails with `Dopri5NotConverged`.
    public var maxSteps: Int
    /// Creates options; dopri5 tolerances default to 1e-6/1e-6, its step budget to 100,000.
    public init(
        plan: Plan, guidance: Guidance = Guidance(), refinerStep: RefinerStep = .heun, batch: Int = 16,
        rtol: Double = 1e-6, atol: Double = 1e-6, maxSteps: Int = 100_000
    ) {
        self.plan = plan
        self.guidance = guidance
        self.refinerStep = refinerStep
        self.batch = batch
        self.rtol = rtol
        self.atol = atol
        self.maxSteps = maxSteps
    }
}

/// Timings and model-call counts of one `SamplingProgram.run`.
public struct RunStats: Equatable {
    /// Wall seconds inside predictor evaluations.
    public var predictorSeconds: Double = 0
    /// Wall seconds inside refiner evaluations.
    public var refinerSeconds: Double = 0
    /// Wall seconds outside model calls (noise, guidance combine, solver updates, bookkeeping).
    public var solverSeconds: Double = 0
    /// Predictor calls per sample (a guided [cond; null] pair counts once, as in the SiT papers;
    /// for dopri5 the mean over the batch, rounded).
    public var predictorNFE: Int = 0
    /// Refiner calls per sample (same convention).
    public var refinerNFE: Int = 0
    /// Creates zero stats.
    public init() {}
    /// Total wall seconds.
    public var totalSeconds: Double { predictorSeconds + refinerSeconds + solverSeconds }
}
