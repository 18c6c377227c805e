import FlowModels
import FlowTensor
import XCTest

@testable import FlowSampler

final class SamplerTests: XCTestCase {
    let gmm = GaussianMixtureField.synthetic()

    /// Every block type, guidance on/off, the 3-channel quirk and both R shapes against the float64 naive sampler.
    func testMatchesNaiveReference() throws {
        let refiner = MixtureRefiner(base: gmm)
        let cases: [(String, Float, Int?, RefinerStep)] = [
            ("H2P4R2", 1, nil, .heun), ("H2P4R2", 2.5, nil, .heun), ("H2P4R2", 2.5, 3, .euler),
            ("H1P3", 1.5, nil, .heun), ("P4", 1, nil, .heun), ("R3", 2, nil, .heun), ("E6", 3, nil, .heun),
            ("H3R2", 1, nil, .euler),
        ]
        for (planString, s, channels, step) in cases {
            let plan = try Plan.parse(planString)
            let prog = try Sampler.compile(
                options: SamplerOptions(
                    plan: plan, guidance: Guidance(scale: s, channels: channels),
                    refinerStep: step, batch: 4),
                predictor: gmm, refiner: refiner)
            let labels: [Int32] = [0, 3, 1, 2, 2]
            let out = try runAll(prog, seed: 11, n: 5, labels: labels, batch: 4)
            var hpr = (h: 0, p: 0, r: 0, euler: 0)
            switch plan.kind {
            case .turbo(let h, let p, let r): hpr = (h, p, r, 0)
            case .euler(let n): hpr.euler = n
            case .dopri5: XCTFail()
            }
            for i in 0..<5 {
                var x0 = [Float](repeating: 0, count: 16)
                Noise.fill(seed: 11, index: i, into: &x0, count: 16)
                let ref = naiveSample(
                    field: gmm, refiner: refiner, plan: hpr, refinerEuler: step == .euler, scale: Double(s),
                    guidedCount: channels, x0: x0.map(Double.init), label: labels[i])
                for j in 0..<16 {
                    XCTAssertEqual(
                        Double(out[i * 16 + j]), ref[j], accuracy: 2e-4 * max(1, abs(ref[j])),
                        "\(planString) s=\(s) ch=\(String(describing: channels)) \(step) sample \(i) coord \(j)")
                }
            }
        }
    }

    /// Single Gaussian: the exact flow map is x1 = μ + σ x0; dopri5 (tight) and a fine Heun grid must reproduce it.
    func testClosedFormFlowMap() throws {
        let f = singleGaussian(d: 6)
        for plan in ["dopri5", "H64"] {
            let prog = try Sampler.compile(
                options: SamplerOptions(plan: try Plan.parse(plan), batch: 4, rtol: 1e-10, atol: 1e-10),
                predictor: f, refiner: nil)
            let out = try runAll(prog, seed: 2, n: 4, labels: [0, 0, 0, 0], batch: 4)
            for i in 0..<4 {
                var x0 = [Float](repeating: 0, count: 6)
                Noise.fill(seed: 2, index: i, into: &x0, count: 6)
                for j in 0..<6 {
                    let exact = f.means[j] + f.variances[j].squareRoot() * Double(x0[j])
                    XCTAssertEqual(Double(out[i * 6 + j]), exact, accuracy: plan == "dopri5" ? 2e-6 : 1e-4, plan)
                }
            }
        }
    }

    func testNFEAccounting() throws {
        for (planString, step, s) in [
            ("H2P3R2", RefinerStep.heun, Float(1)), ("H2P3R2", .euler, 2), ("P5", .heun, 1),
            ("E4", .heun, 2), ("H1R2", .heun, 1.5), ("R2", .euler, 1),
        ] {
            let plan = try Plan.parse(planString)
            let p = CountingField(gmm)
            let r = CountingField(MixtureRefiner(base: gmm))
            let prog = try Sampler.compile(
                options: SamplerOptions(plan: plan, guidance: Guidance(scale: s), refinerStep: step, batch: 3),
                predictor: p, refiner: r)
            let stats = try runAll3(prog)
            guard case .turbo(let h, let pp, let rr) = plan.kind else {
                if case .euler(let n) = plan.kind { XCTAssertEqual(p.calls, n) }
                XCTAssertEqual(stats.predictorNFE, p.calls)
                continue
            }
            // Independent count from the block rules: H 2, P 1 (+1 if no cache yet), R 0 + (2 heun | 1 euler), + bootstrap.
            let expectP = 2 * h + pp + (h == 0 ? 1 : 0)
            let expectR = (step == .heun ? 2 : 1) * rr
            XCTAssertEqual(p.calls, expectP, planString)
            XCTAssertEqual(r.calls, expectR, planString)
            XCTAssertEqual(stats.predictorNFE, expectP)
            XCTAssertEqual(stats.refinerNFE, expectR)
            XCTAssertEqual(plan.predictorNFE, expectP)
            XCTAssertEqual(plan.refinerNFE(for: step), expectR)
            XCTAssertEqual(p.maxRowsSeen, s == 1 ? 3 : 6, "guidance doubles the rows, never the calls")
        }
    }

    /// The per-batch conditioning precompute (`setLabels`: timestep/label embeddings, adaLN vectors) is model work:
    /// its time goes to predictor/refiner seconds, not to the solver's share that `bench sampler` reports.
    func testConditioningPrecomputeCountsAsModelTime() throws {
        let p = CountingField(gmm, setLabelsDelay: 0.05)
        let r = CountingField(MixtureRefiner(base: gmm), setLabelsDelay: 0.05)
        let prog = try Sampler.compile(
            options: SamplerOptions(plan: try Plan.parse("H2P3R2"), guidance: Guidance(scale: 2), batch: 3),
            predictor: p, refiner: r)
        let stats = try runAll3(prog)
        XCTAssertGreaterThanOrEqual(stats.predictorSeconds, 0.05)
        XCTAssertGreaterThanOrEqual(stats.refinerSeconds, 0.05)
        XCTAssertLessThan(stats.solverSeconds, 0.05, "the 50 ms setLabels calls were booked as solver time")
    }

    private func runAll3(_ prog: SamplingProgram) throws -> RunStats {
        var out = [Float](repeating: 0, count: 3 * 16)
        let labels: [Int32] = [0, 1, 2]
        return try prog.run(seed: 1, firstIndex: 0, count: 3, labels: labels, out: &out)
    }

    /// Sample i is bitwise identical whatever batch size, chunking or neighbours produce it.
    func testBatchCompositionInvariance() throws {
        let refiner = MixtureRefiner(base: gmm)
        for plan in ["H2P4R2", "E5", "dopri5"] {
            let labels: [Int32] = (0..<9).map { Labels.balanced(index: $0, classes: 4) }
            var outs: [[Float]] = []
            for batch in [9, 4, 1] {
                let prog = try Sampler.compile(
                    options: SamplerOptions(plan: try Plan.parse(plan), guidance: Guidance(scale: 2), batch: batch),
                    predictor: gmm, refiner: refiner)
                outs.append(try runAll(prog, seed: 99, n: 9, labels: labels, batch: batch))
            }
            XCTAssertEqual(outs[0].map(\.bitPattern), outs[1].map(\.bitPattern), plan)
            XCTAssertEqual(outs[0].map(\.bitPattern), outs[2].map(\.bitPattern), plan)
            // Sample 6 alone, from a fresh program, with different neighbours' labels irrelevant.
            let prog = try Sampler.compile(
                options: SamplerOptions(plan: try Plan.parse(plan), guidance: Guidance(scale: 2), batch: 2),
                predictor: gmm, refiner: refiner)
            var one = [Float](repeating: 0, count: 32)
            _ = try prog.run(seed: 99, firstIndex: 6, count: 1, labels: [labels[6]], out: &one)
            XCTAssertEqual(Array(one[0..<16]).map(\.bitPattern), Array(outs[0][(6 * 16)..<(7 * 16)]).map(\.bitPattern))
        }
    }

    func testErrors() {
        XCTAssertThrowsError(
            try Sampler.compile(options: SamplerOptions(plan: try! Plan.parse("H2R2")), predictor: gmm, refiner: nil)
        ) { e in
            XCTAssert(((e as? FlowError)?.message ?? "").contains("H{a}P{b}R{c}"))
        }
        XCTAssertThrowsError(
            try Sampler.compile(
                options: SamplerOptions(plan: try! Plan.parse("H2"), batch: 0), predictor: gmm, refiner: nil))
        XCTAssertThrowsError(
            try Sampler.compile(
                options: SamplerOptions(plan: try! Plan.parse("H2")),
                predictor: MixtureRefiner(base: gmm), refiner: nil))
    }
}
