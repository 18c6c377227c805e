import FlowTensor
import Foundation

/// Non-negative integer sampling weights of the caption categories (`QuadCategory.allCases` order), so training can
/// oversample hard categories. All weights 1 draws exactly like the uniform draw (same rng calls, same results).
public struct QuadCategoryWeights: Equatable, Sendable, CustomStringConvertible {
    /// One weight per category, in `QuadCategory.allCases` order.
    public let weights: [Int]

    /// Metadata key of the current weights ("single=1,two=3,…").
    public static let metadataKey = "flowturbo.train_category_weights"
    /// Metadata key of the weight history ("0:1,1,1,1,1,1;7000:1,3,1,1,2,1").
    public static let scheduleKey = "flowturbo.train_category_schedule"

    /// Every category weight 1 (the uniform draw).
    public static let uniform = QuadCategoryWeights(unchecked: Array(repeating: 1, count: QuadCategory.allCases.count))

    init(unchecked weights: [Int]) { self.weights = weights }

    /// Weights in `QuadCategory.allCases` order; all ≥ 0 and at least one > 0.
    public init(_ weights: [Int]) throws {
        let n = QuadCategory.allCases.count
        guard weights.count == n else {
            throw FlowError("category weights: \(weights.count) values for \(n) categories; give one per category")
        }
        guard weights.allSatisfy({ $0 >= 0 }) else {
            throw FlowError("category weights must be non-negative integers, got \(weights)")
        }
        guard weights.contains(where: { $0 > 0 }) else {
            throw FlowError("category weights are all 0; give at least one category a weight > 0")
        }
        self.weights = weights
    }

    /// Parses "two=3,count=2" (omitted categories keep weight 1).
    public init(parsing text: String) throws {
        var w = QuadCategoryWeights.uniform.weights
        let names = QuadCategory.allCases.map(\.rawValue).joined(separator: ", ")
        var seen = Set<String>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false)
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            guard parts.count == 2 else {
                throw FlowError("\(.categoryWeights): '\(item)' is not NAME=WEIGHT; write e.g. two=3,count=2")
            }
            guard let i = QuadCategory.allCases.firstIndex(where: { $0.rawValue == name }) else {
                throw FlowError("\(.categoryWeights): unknown category '\(name)'; use one of \(names)")
            }
            guard seen.insert(name).inserted else {
                throw FlowError("\(.categoryWeights): '\(name)' given twice; give each category once")
            }
            let v = parts[1].trimmingCharacters(in: .whitespaces)
            guard let x = Int(v), x >= 0 else {
                throw FlowError(
                    "\(.categoryWeights): weight '\(v)' of \(name) is not a non-negative integer; write e.g. \(name)=2")
            }
            w[i] = x
        }
        guard w.contains(where: { $0 > 0 }) else {
            throw FlowError("\(.categoryWeights): every weight is 0; give at least one category a weight > 0")
        }
        weights = w
    }

    /// Sum of the weights (the modulus of the draw).
    public var total: Int { weights.reduce(0, +) }

    /// "single=1,two=3,column=1,row=1,count=2,empty=1" (every category, in `QuadCategory.allCases` order).
    public var description: String {
        zip(QuadCategory.allCases, weights).map { "\($0.rawValue)=\($1)" }.joined(separator: ",")
    }

    /// "1,3,1,1,2,1": the weights alone, as in the schedule.
    public var compact: String { weights.map(String.init).joined(separator: ",") }

    /// The category index whose cumulative weight range contains `u` (0 ≤ u < total).
    public func category(for u: Int) -> Int {
        var acc = 0
        for (i, w) in weights.enumerated() {
            acc += w
            if u < acc { return i }
        }
        preconditionFailure("category draw \(u) outside 0..<\(total)")
    }

    /// The weights stored in checkpoint metadata; uniform if the key is absent (checkpoints before the flag).
    public static func from(metadata: [String: String], source: String) throws -> QuadCategoryWeights {
        guard let s = metadata[metadataKey] else { return .uniform }
        do {
            return try QuadCategoryWeights(parsing: s)
        } catch {
            throw FlowError("\(source): bad \(metadataKey) '\(s)'; start a new \(.checkpoint) or fix the file")
        }
    }

    /// The schedule after switching to `self` at `step`: replaces an entry at the same step, else appends.
    public func appended(to schedule: String, atStep step: Int) -> String {
        var entries = schedule.split(separator: ";").map(String.init)
        if let last = entries.last, last.hasPrefix("\(step):") { entries.removeLast() }
        entries.append("\(step):\(compact)")
        return entries.joined(separator: ";")
    }
}
