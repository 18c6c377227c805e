/// Share of samples a classifier assigns to the class they were generated for ("class agreement", the
/// class-conditional analogue of GenEval's prompt adherence): overall and per requested class.
public struct ClassAgreement: Equatable {
    /// Correct / all samples with a requested class in 0..<classes.
    public var overall: Double
    /// Per requested class c: correct / samples requested as c (classes with no sample are absent).
    public var perClass: [Int: Double]
    /// Samples counted (labels outside 0..<classes, e.g. the null class, are not).
    public var samples: Int

    /// Compares predicted with requested classes. A prediction of -1 (e.g. a sample with NaN values that no
    /// class can be assigned to) counts as wrong.
    public init(predicted: [Int], requested: [Int32], classes: Int) {
        precondition(predicted.count == requested.count, "one prediction per sample")
        var hit = [Int](repeating: 0, count: max(classes, 0))
        var total = [Int](repeating: 0, count: max(classes, 0))
        for (p, r) in zip(predicted, requested) where r >= 0 && Int(r) < classes {
            total[Int(r)] += 1
            if p == Int(r) { hit[Int(r)] += 1 }
        }
        let n = total.reduce(0, +)
        samples = n
        overall = n == 0 ? 0 : Double(hit.reduce(0, +)) / Double(n)
        var per: [Int: Double] = [:]
        for c in 0..<max(classes, 0) where total[c] > 0 { per[c] = Double(hit[c]) / Double(total[c]) }
        perClass = per
    }

    /// `{"overall": …, "per_class": {"0": …}, "samples": n}` for report.json.
    public var json: [String: Any] {
        var per: [String: Double] = [:]
        for (c, v) in perClass { per[String(c)] = v }
        return ["overall": overall, "per_class": per, "samples": samples]
    }

    /// A Markdown section: overall share and one row per class.
    public func markdown(classifier: String) -> String {
        var s = "\n## Class agreement\n\nShare of samples \(classifier) assigns to the requested class: "
        s += "**\(percent(overall))** of \(samples).\n\n| class | agreement |\n|---|---|\n"
        for c in perClass.keys.sorted() { s += "| \(c) | \(percent(perClass[c]!)) |\n" }
        return s
    }

    private func percent(_ v: Double) -> String {
        let tenths = (v * 1000).rounded()
        return "\(Int(tenths) / 10).\(Int(tenths) % 10)%"
    }
}
