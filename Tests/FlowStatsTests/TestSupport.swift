import FlowTensor
import FlowTestSupport
import Foundation
import XCTest

@testable import FlowStats

/// Shared helpers: fixture paths, seeded Gaussian data, naive float64 references.
enum TestSupport {
    static var fixtures: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    }

    static func expected() throws -> [String: Any] {
        let d = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/expected.json"))
        return try JSONSerialization.jsonObject(with: d) as! [String: Any]
    }

    /// Samples of `rows` × `d` from N(mean, L Lᵀ) with seeded normals.
    static func gaussian(rows: Int, d: Int, seed: UInt64, mean: Double = 0, scale: Double = 1) -> [Float] {
        var r = StatsRandom(seed: seed)
        return (0..<(rows * d)).map { _ in Float(mean + scale * r.normal()) }
    }

    /// Two-pass float64 mean and ddof-1 covariance.
    static func naiveMoments(_ x: [Float], d: Int) -> ([Double], [Double]) {
        let n = x.count / d
        var mu = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mu[j] += Double(x[i * d + j]) } }
        for j in 0..<d { mu[j] /= Double(n) }
        var c = [Double](repeating: 0, count: d * d)
        for i in 0..<n {
            for a in 0..<d {
                for b in 0..<d { c[a * d + b] += (Double(x[i * d + a]) - mu[a]) * (Double(x[i * d + b]) - mu[b]) }
            }
        }
        for k in 0..<(d * d) { c[k] /= Double(n - 1) }
        return (mu, c)
    }

    static func maxRelDiff(_ a: [Double], _ b: [Double]) -> Double {
        var scale = 0.0
        for v in b { scale = max(scale, abs(v)) }
        var m = 0.0
        for (x, y) in zip(a, b) { m = max(m, abs(x - y) / max(scale, 1e-300)) }
        return m
    }

    static func tempDir(_ tag: String) throws -> String {
        TestEnvironment.tempDirectory("flowstats-\(tag)")
    }

    static func f64(_ v: [Double], _ shape: [Int]) -> NPYArray {
        NPYArray(dtype: .float64, shape: shape, bytes: v.withUnsafeBytes { [UInt8]($0) })
    }
    static func f32(_ v: [Float], _ shape: [Int]) -> NPYArray {
        NPYArray(dtype: .float32, shape: shape, bytes: v.withUnsafeBytes { [UInt8]($0) })
    }
}
