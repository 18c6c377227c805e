import FlowTensor
import XCTest

@testable import FlowStats

/// Latency percentiles, report files, stats-file validation.
final class ReportTests: XCTestCase {
    func testLatencyPercentilesAndMerge() {
        var a = LatencyRecorder()
        var b = LatencyRecorder()
        // 1…1000 ms split across two recorders: p50 = 500 ms, p99 = 990 ms (HdrHistogram 3 digits: 0.1 %).
        for i in 1...1000 {
            if i % 2 == 0 {
                a.record(.total, seconds: Double(i) / 1000, worker: "w0")
            } else {
                b.record(.total, seconds: Double(i) / 1000, worker: "w1")
            }
        }
        a.complete(samples: 10, at: 0.5, nfe: 80)
        b.complete(samples: 6, at: 2.2, nfe: 60)
        a.merge(b)
        let s = a.summary(.total)!
        XCTAssertEqual(s.count, 1000)
        XCTAssertEqual(s.p50, 500, accuracy: 0.5)
        XCTAssertEqual(s.p99, 990, accuracy: 1)
        XCTAssertEqual(s.max, 1000, accuracy: 1)
        XCTAssertEqual(a.completedPerSecond, [10, 0, 6])
        XCTAssertEqual(a.nfePerSample, 140.0 / 16, accuracy: 1e-12)
        XCTAssertEqual(a.workers.count, 2)
        XCTAssertNil(a.summary(.refiner))
    }

    func testReportFiles() throws {
        let dir = try TestSupport.tempDir("report")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lat = LatencyRecorder()
        for i in 1...50 {
            lat.record(.total, seconds: Double(i) * 0.01, worker: "w\(i % 3)")
            lat.record(.predictor, seconds: 0.005)
        }
        lat.complete(samples: 40, at: 0.1, nfe: 400)
        lat.complete(samples: 60, at: 1.3, nfe: 600)
        var input = ReportInput(samples: 100, workers: 3, plan: "H8P9R3", wallSeconds: 2, latency: lat)
        let x = TestSupport.gaussian(rows: 60, d: 4, seed: 1)
        let y = TestSupport.gaussian(rows: 60, d: 4, seed: 2, mean: 0.5)
        let a = try StatsSet(samples: x, dimension: 4, labels: (0..<60).map { Int32($0 % 2) }, source: "a")
        let b = try StatsSet(samples: y, dimension: 4, labels: (0..<60).map { Int32($0 % 2) }, source: "b")
        var opt = MetricOptions()
        opt.kidSubsets = 3
        input.metrics = try Evaluation.compare(generated: a, reference: b, options: opt)
        input.grid = Tensor(shape: [4, 1, 2, 2], data: (0..<16).map { Float($0) / 8 - 1 })
        let paths = try Report.write(input, to: dir + "/run")
        XCTAssertEqual(
            Set(paths.map { ($0 as NSString).lastPathComponent }),
            ["report.json", "report.md", "latency.png", "throughput.png", "samples.png"])
        let j =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run/report.json")))
            as! [String: Any]
        for k in [
            "samples", "workers", "plan", "wall_seconds", "samples_per_second", "latency_ms", "nfe_per_sample",
            "fd", "precision", "recall", "density", "coverage", "kid", "per_class_fd",
        ] { XCTAssertNotNil(j[k], k) }
        XCTAssertEqual(j["samples_per_second"] as! Double, 50, accuracy: 1e-12)
        XCTAssertEqual(j["nfe_per_sample"] as! Double, 10, accuracy: 1e-12)
        let l = j["latency_ms"] as! [String: Any]
        for k in ["p50", "p90", "p99", "max"] { XCTAssertNotNil(l[k], k) }
        XCTAssertEqual((j["per_class_fd"] as! [String: Any]).count, 2)
        // FD in the report equals an independent FD of the two naive moment sets.
        let (m1, c1) = TestSupport.naiveMoments(x, d: 4)
        let (m2, c2) = TestSupport.naiveMoments(y, d: 4)
        XCTAssertEqual(
            j["fd"] as! Double, try Frechet.distance(mu1: m1, sigma1: c1, mu2: m2, sigma2: c2).distance, accuracy: 1e-10
        )
        let png = try FileIO.read(dir + "/run/latency.png")
        XCTAssertEqual(Array(png[0..<4]), [0x89, 0x50, 0x4E, 0x47])
        let md = String(decoding: try FileIO.read(dir + "/run/report.md"), as: UTF8.self)
        XCTAssertTrue(md.contains("| plan | H8P9R3 |"))
    }

    /// Worker ids arrive from the network: in report.md they must not add rows, links, HTML or terminal escapes.
    func testWorkerIdsAreInertInMarkdown() {
        var lat = LatencyRecorder()
        let evil = "w|x\n| injected | row |\u{1B}[31mred<script>[link](http://x)"
        lat.record(.total, seconds: 0.01, worker: evil)
        let md = Report.markdown(ReportInput(samples: 1, workers: 1, plan: "H8", wallSeconds: 1, latency: lat))
        XCTAssertFalse(md.contains("\u{1B}"), "ANSI escape reached report.md")
        XCTAssertFalse(md.contains("<script>"), md)
        XCTAssertTrue(md.contains("\\[link\\](http"), "link brackets must be escaped: \(md)")
        let row = md.split(separator: "\n").first { $0.contains("injected") }
        XCTAssertNotNil(row)
        XCTAssertEqual(
            row.map { $0.filter { $0 == "|" }.count - $0.components(separatedBy: "\\|").count + 1 }, 7,
            "the id stays inside one cell of the 6-column worker row: \(row ?? "")")
        XCTAssertFalse(md.contains("\n| injected"), "the newline in the id started a new table row")
    }

    func testBadStatsFilesGiveClearErrors() throws {
        let dir = try TestSupport.tempDir("bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func npz(_ name: String, _ arrays: [(name: String, array: NPYArray)]) throws -> String {
            let p = dir + "/" + name
            try NPZ.write(p, arrays: arrays)
            return p
        }
        let wrongKeys = try npz("k.npz", [("means", TestSupport.f64([0, 0], [2]))])
        XCTAssertThrowsError(try StatsSet.load(wrongKeys)) {
            XCTAssertTrue("\($0)".contains("expected mu and sigma"), "\($0)")
        }
        let wrongShape = try npz(
            "s.npz", [("mu", TestSupport.f64([0, 0], [2])), ("sigma", TestSupport.f64([1, 0, 0], [3]))])
        XCTAssertThrowsError(try StatsSet.load(wrongShape)) { XCTAssertTrue("\($0)".contains("shape"), "\($0)") }
        let nanStats = try npz(
            "n.npz", [("mu", TestSupport.f64([0, .nan], [2])), ("sigma", TestSupport.f64([1, 0, 0, 1], [2, 2]))])
        XCTAssertThrowsError(try StatsSet.load(nanStats)) { XCTAssertTrue("\($0)".contains("NaN"), "\($0)") }
        let nanSamples = try npz("ns.npz", [("arr_0", TestSupport.f32([0, 1, 2, .nan, 4, 5], [3, 2]))])
        XCTAssertThrowsError(try StatsSet.load(nanSamples)) { XCTAssertTrue("\($0)".contains("NaN"), "\($0)") }
        // (N,) samples are N scalars: FD is (μ₁ − μ₂)² + (σ₁ − σ₂)² with ddof-1 variances.
        let s1 = try npz("s1.npz", [("arr_0", TestSupport.f32([1, 2, 3, 6], [4]))])
        let s2 = try npz("s2.npz", [("arr_0", TestSupport.f32([0, 2, 4], [3]))])
        let v1 = (4.0 + 1 + 0 + 9) / 3
        let v2 = 4.0
        let fd1 = try Evaluation.compare(generated: try StatsSet.load(s1), reference: try StatsSet.load(s2)).fd.distance
        XCTAssertEqual(
            fd1, 1 + (v1.squareRoot() - v2.squareRoot()) * (v1.squareRoot() - v2.squareRoot()), accuracy: 1e-12)
        let oneSample = dir + "/one.npy"
        try FileIO.writeAtomically(oneSample, NPY.encode(Tensor(shape: [1, 3], data: [1, 2, 3])))
        XCTAssertThrowsError(try StatsSet.load(oneSample))
        let a = try StatsSet.load(
            try npz(
                "a.npz",
                [
                    (
                        "arr_0",
                        TestSupport.f32([Float](repeating: 0, count: 12).enumerated().map { Float($0.offset) }, [4, 3])
                    )
                ]))
        let b = try StatsSet.load(
            try npz(
                "b.npz", [("mu", TestSupport.f64([0, 0], [2])), ("sigma", TestSupport.f64([1, 0, 0, 1], [2, 2]))]))
        XCTAssertThrowsError(try Evaluation.compare(generated: a, reference: b)) {
            XCTAssertTrue("\($0)".contains("dimension"), "\($0)")
        }
    }
}
