import FlowTensor
import Foundation

/// What a run's report is made of; the cluster aggregator (or a local run) fills it.
public struct ReportInput {
    /// Samples generated.
    public var samples: Int
    /// Worker processes that generated them.
    public var workers: Int
    /// Sampling plan, e.g. "H8P9R3" (its `description`).
    public var plan: String
    /// Wall-clock seconds of the run.
    public var wallSeconds: Double
    /// Latency histograms, throughput timeline and NFE counts.
    public var latency: LatencyRecorder
    /// Metrics against the reference, when one was given.
    public var metrics: EvaluationMetrics?
    /// Per-sample RMSE against a reference run of the same seeds, when one was given.
    public var rmse: RMSEResult?
    /// Images (N, C, H, W) in [-1, 1] for `samples.png`, when latents are images.
    public var grid: Tensor?
    /// Extra string fields copied into report.json (model, seed, feature space, …).
    public var extra: [String: String] = [:]

    /// A report input with the required fields.
    public init(samples: Int, workers: Int, plan: String, wallSeconds: Double, latency: LatencyRecorder) {
        self.samples = samples
        self.workers = workers
        self.plan = plan
        self.wallSeconds = wallSeconds
        self.latency = latency
    }
}

/// Writes report.json, report.md, latency.png, throughput.png and samples.png into a run folder.
public enum Report {
    /// The report.json object (schema in README "Statistics and reports").
    public static func json(_ r: ReportInput) -> [String: Any] {
        func num(_ v: Double) -> Any { v.isFinite ? v : NSNull() }
        func lat(_ s: LatencySummary?) -> Any {
            guard let s = s else { return NSNull() }
            return ["p50": s.p50, "p90": s.p90, "p99": s.p99, "max": s.max, "mean": s.mean, "count": s.count]
        }
        var j: [String: Any] = [
            "samples": r.samples, "workers": r.workers, "plan": r.plan, "wall_seconds": num(r.wallSeconds),
            "samples_per_second": num(r.wallSeconds > 0 ? Double(r.samples) / r.wallSeconds : 0),
            "latency_ms": lat(r.latency.summary(.total)),
            "nfe_per_sample": num(r.latency.nfePerSample),
            "throughput_per_second": r.latency.completedPerSecond,
        ]
        var stages: [String: Any] = [:]
        for s in LatencyStage.allCases { if let v = r.latency.summary(s) { stages[s.rawValue] = lat(v) } }
        j["latency_ms_by_stage"] = stages
        var workers: [String: Any] = [:]
        for (w, h) in r.latency.workers where h.totalCount > 0 { workers[w] = lat(LatencySummary(h)) }
        j["latency_ms_by_worker"] = workers
        if let m = r.metrics { for (k, v) in metricsJSON(m) { j[k] = v } }
        if let e = r.rmse { j["rmse"] = ["mean": num(e.mean), "max": num(e.max), "samples": e.samples] }
        for (k, v) in r.extra where j[k] == nil { j[k] = v }
        return j
    }

    /// Metric fields shared by report.json and `flowturbo stats compare --json`.
    public static func metricsJSON(_ m: EvaluationMetrics) -> [String: Any] {
        func num(_ v: Double) -> Any { v.isFinite ? v : NSNull() }
        var j: [String: Any] = [
            "fd": num(m.fd.distance),
            "fd_diagnostics": [
                "mean_term": num(m.fd.meanTerm), "covariance_term": num(m.fd.covarianceTerm),
                "clamped_eigenvalues": m.fd.clampedEigenvalues,
                "most_negative_eigenvalue": num(m.fd.mostNegativeEigenvalue),
            ],
        ]
        if let p = m.prdc {
            j["precision"] = num(p.precision)
            j["recall"] = num(p.recall)
            j["density"] = num(p.density)
            j["coverage"] = num(p.coverage)
        }
        if let k = m.kid {
            j["kid"] = num(k.kid)
            j["kid_std"] = num(k.std)
        }
        if let s = m.swd { j["swd"] = num(s) }
        if !m.perClassFD.isEmpty {
            var pc: [String: Any] = [:]
            for (c, v) in m.perClassFD { pc[String(c)] = num(v) }
            j["per_class_fd"] = pc
        }
        if m.samplesUsed.generated > 0 {
            j["metric_samples"] = ["generated": m.samplesUsed.generated, "reference": m.samplesUsed.reference]
        }
        return j
    }

    /// Serialises a JSON object with sorted keys (stable diffs between runs).
    public static func serialize(_ j: [String: Any], pretty: Bool = true) throws -> String {
        let data = try JSONSerialization.data(
            withJSONObject: j, options: pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// report.md: the same content as tables.
    public static func markdown(_ r: ReportInput) -> String {
        func f(_ v: Double) -> String {
            String(format: abs(v) >= 1000 || abs(v) < 0.001 && v != 0 ? "%.4g" : "%.4f", v)
        }
        var s = "# Run report\n\n| field | value |\n|---|---|\n"
        s += "| samples | \(r.samples) |\n| workers | \(r.workers) |\n| plan | \(cell(r.plan)) |\n"
        s +=
            "| wall seconds | \(f(r.wallSeconds)) |\n| samples/s | \(f(r.wallSeconds > 0 ? Double(r.samples) / r.wallSeconds : 0)) |\n"
        s += "| NFE per sample | \(f(r.latency.nfePerSample)) |\n"
        for (k, v) in r.extra.sorted(by: { $0.key < $1.key }) { s += "| \(cell(k)) | \(cell(v)) |\n" }
        s += "\n## Latency (ms)\n\n| stage | p50 | p90 | p99 | max | count |\n|---|---|---|---|---|---|\n"
        for st in LatencyStage.allCases {
            if let l = r.latency.summary(st) {
                s += "| \(st.rawValue) | \(f(l.p50)) | \(f(l.p90)) | \(f(l.p99)) | \(f(l.max)) | \(l.count) |\n"
            }
        }
        if !r.latency.workers.isEmpty {
            s +=
                "\n## Latency per worker (ms, total)\n\n| worker | p50 | p90 | p99 | max | count |\n|---|---|---|---|---|---|\n"
            for (w, h) in r.latency.workers.sorted(by: { $0.key < $1.key }) where h.totalCount > 0 {
                let l = LatencySummary(h)
                s +=
                    "| \(cell(w)) | \(f(l.p50)) | \(f(l.p90)) | \(f(l.p99)) | "
                    + "\(f(l.max)) | \(l.count) |\n"
            }
        }
        if let m = r.metrics {
            s += "\n## Metrics against the reference\n\n| metric | value |\n|---|---|\n"
            s +=
                "| FD | \(f(m.fd.distance)) |\n| FD clamped eigenvalues | \(m.fd.clampedEigenvalues) (most negative \(f(m.fd.mostNegativeEigenvalue))) |\n"
            if let p = m.prdc {
                s +=
                    "| precision | \(f(p.precision)) |\n| recall | \(f(p.recall)) |\n| density | \(f(p.density)) |\n| coverage | \(f(p.coverage)) |\n"
            }
            if let k = m.kid { s += "| KID | \(f(k.kid)) ± \(f(k.std)) |\n" }
            if let w = m.swd { s += "| SWD | \(f(w)) |\n" }
            if !m.perClassFD.isEmpty {
                s += "\n### Per-class FD\n\n| class | FD |\n|---|---|\n"
                for (c, v) in m.perClassFD.sorted(by: { $0.key < $1.key }) { s += "| \(c) | \(f(v)) |\n" }
            }
        }
        if let e = r.rmse {
            s +=
                "\n## RMSE against the reference run\n\n| mean | max | samples |\n|---|---|---|\n| \(f(e.mean)) | \(f(e.max)) | \(e.samples) |\n"
        }
        return s
    }

    /// Longest text placed in one table cell of report.md.
    static let maxCellCharacters = 1000

    /// Untrusted text (worker ids come from the network) as one inert Markdown table cell: control characters
    /// (newlines, ANSI escapes) become U+FFFD, Markdown and HTML punctuation is backslash-escaped, long text is cut.
    public static func cell(_ text: String) -> String {
        var out = ""
        for (i, ch) in text.unicodeScalars.enumerated() {
            if i == maxCellCharacters {
                out += "…"
                break
            }
            if ch.properties.generalCategory == .control || ch.properties.generalCategory == .format {
                out += "\u{FFFD}"
            } else if "\\|*_`[]<>#!~&".unicodeScalars.contains(ch) {
                out += "\\" + String(ch)
            } else {
                out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Writes every report file into `directory` (created if missing); returns the paths written.
    @discardableResult
    public static func write(_ r: ReportInput, to directory: String) throws -> [String] {
        try FileIO.makeDirectories(directory)
        var paths: [String] = []
        func put(_ name: String, _ text: String) throws {
            let p = directory + "/" + name
            try FileIO.writeAtomically(p, Array(text.utf8))
            paths.append(p)
        }
        try put("report.json", try serialize(json(r)) + "\n")
        try put("report.md", markdown(r))
        if let h = r.latency.stages[.total], h.totalCount > 0 {
            var values: [Double] = []
            for v in h.recordedValues() {
                values += [Double](repeating: Double(v.value) / 1000, count: Swift.min(Int(v.count), 100_000))
            }
            let p = directory + "/latency.png"
            try Plot.histogram(values, title: "LATENCY PER BATCH", xLabel: "MS").write(p)
            paths.append(p)
        }
        if !r.latency.completedPerSecond.isEmpty {
            let ys = r.latency.completedPerSecond.map { Double($0) }
            let xs = (0..<ys.count).map { Double($0) }
            let p = directory + "/throughput.png"
            try Plot.line(xs, ys, title: "SAMPLES PER SECOND", xLabel: "SECONDS").write(p)
            paths.append(p)
        }
        if let g = r.grid, g.shape.count == 4, [1, 3, 4].contains(g.shape[1]) {
            let n = Swift.min(g.shape[0], 64)
            let per = g.shape[1] * g.shape[2] * g.shape[3]
            let t = Tensor(shape: [n] + Array(g.shape[1...]), data: Array(g.data[0..<(n * per)]))
            let img = try PNG.grid(t, columns: Int(Double(n).squareRoot().rounded(.up)))
            let p = directory + "/samples.png"
            try PNG.write(path: p, width: img.width, height: img.height, channels: img.channels, pixels: img.pixels)
            paths.append(p)
        }
        return paths
    }
}
