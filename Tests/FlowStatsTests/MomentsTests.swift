import FlowTensor
import XCTest

@testable import FlowStats

/// Moments against a two-pass float64 reference, and merge associativity across shardings.
final class MomentsTests: XCTestCase {
    func testMatchesTwoPassReference() throws {
        let d = 7
        let x = TestSupport.gaussian(rows: 500, d: d, seed: 1, mean: 3, scale: 2)
        var m = Moments(dimension: d)
        try m.add(x)
        let (mu, c) = TestSupport.naiveMoments(x, d: d)
        XCTAssertLessThan(TestSupport.maxRelDiff(m.mean, mu), 1e-12)
        XCTAssertLessThan(TestSupport.maxRelDiff(try m.covariance(), c), 1e-11)
        XCTAssertEqual(m.count, 500)
    }

    /// Shards merged in any grouping = the whole set (relative difference ≤ 1e-12).
    func testMergeAssociativity() throws {
        let d = 16
        let n = 1000
        let x = TestSupport.gaussian(rows: n, d: d, seed: 2, mean: 5, scale: 1.5)
        let shift = (0..<d).map { _ in 5.0 }
        var whole = Moments(dimension: d, shift: shift)
        try whole.add(x)
        var r = StatsRandom(seed: 9)
        for trial in 0..<5 {
            // Random cut points into 1…20 shards.
            let shards = 1 + r.below(20)
            var cuts = Set([0, n])
            while cuts.count < shards + 1 { cuts.insert(1 + r.below(n - 1)) }
            let c = cuts.sorted()
            var parts: [Moments] = []
            for k in 0..<(c.count - 1) {
                var m = Moments(dimension: d, shift: shift)
                try m.add(Array(x[(c[k] * d)..<(c[k + 1] * d)]))
                parts.append(m)
            }
            // Merge as a random tree: repeatedly merge two random entries (order varies with trial).
            while parts.count > 1 {
                let i = r.below(parts.count)
                var a = parts.remove(at: i)
                let j = r.below(parts.count)
                let b = parts.remove(at: j)
                if trial % 2 == 0 {
                    try a.merge(b)
                    parts.append(a)
                } else {
                    var bb = b
                    try bb.merge(a)
                    parts.append(bb)
                }
            }
            let merged = parts[0]
            XCTAssertEqual(merged.count, n)
            XCTAssertLessThanOrEqual(TestSupport.maxRelDiff(merged.sum, whole.sum), 1e-12)
            XCTAssertLessThanOrEqual(TestSupport.maxRelDiff(merged.outer, whole.outer), 1e-12)
            XCTAssertLessThanOrEqual(TestSupport.maxRelDiff(merged.mean, whole.mean), 1e-12)
            XCTAssertLessThanOrEqual(TestSupport.maxRelDiff(try merged.covariance(), try whole.covariance()), 1e-12)
        }
    }

    func testMergeWithDifferentShiftAndNpzRoundTrip() throws {
        let d = 3
        let x = TestSupport.gaussian(rows: 200, d: d, seed: 3, mean: 100)
        var a = Moments(dimension: d, shift: [100, 100, 100])
        try a.add(Array(x[0..<(100 * d)]))
        var b = Moments(dimension: d)
        try b.add(Array(x[(100 * d)...]))
        try a.merge(b)
        let (mu, c) = TestSupport.naiveMoments(x, d: d)
        XCTAssertLessThan(TestSupport.maxRelDiff(a.mean, mu), 1e-10)
        XCTAssertLessThan(TestSupport.maxRelDiff(try a.covariance(), c), 1e-8)
        // Through an .npz written by StatsSet and read back.
        let dir = try TestSupport.tempDir("moments")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let set = try StatsSet(moments: a, source: "test")
        try set.write(dir + "/m.npz")
        let back = try StatsSet.load(dir + "/m.npz")
        XCTAssertEqual(back.moments, a)
        XCTAssertThrowsError(try a.merge(Moments(dimension: 4)))
    }

    func testNonFiniteAndTooFewSamples() throws {
        var m = Moments(dimension: 2)
        XCTAssertThrowsError(try m.add([1, .nan])) { XCTAssertTrue("\($0)".contains("non-finite"), "\($0)") }
        XCTAssertEqual(m.count, 0)
        try m.add([1, 2])
        XCTAssertThrowsError(try m.covariance())
    }
}

/// StreamingStats: shards shipped as npz bytes and merged equal the whole set.
final class StreamingStatsTests: XCTestCase {
    func testShardsThroughBytesEqualWhole() throws {
        let d = 6
        let n = 600
        let x = TestSupport.gaussian(rows: n, d: d, seed: 21, mean: 2)
        let labels = (0..<n).map { Int32(($0 * 7) % 3) }
        let shift = [Double](repeating: 2, count: d)
        var whole = StreamingStats(dimension: d, shift: shift, reservoirCapacity: 50, seed: 3)
        try x.withUnsafeBufferPointer { xp in
            try labels.withUnsafeBufferPointer {
                try whole.add(firstIndex: 0, rows: n, vectors: xp.baseAddress!, labels: $0.baseAddress!)
            }
        }
        var merged = StreamingStats(dimension: d, shift: shift, reservoirCapacity: 50, seed: 3)
        for (lo, hi) in [(400, 600), (0, 130), (130, 400)] {
            var s = StreamingStats(dimension: d, shift: shift, reservoirCapacity: 50, seed: 3)
            try x.withUnsafeBufferPointer { xp in
                try labels.withUnsafeBufferPointer {
                    try s.add(
                        firstIndex: lo, rows: hi - lo, vectors: xp.baseAddress! + lo * d, labels: $0.baseAddress! + lo)
                }
            }
            try merged.merge(try StreamingStats.decode(try s.encode(), source: "shard \(lo)"))
        }
        XCTAssertEqual(merged.global.count, n)
        XCTAssertLessThanOrEqual(TestSupport.maxRelDiff(merged.global.outer, whole.global.outer), 1e-12)
        XCTAssertEqual(Set(merged.perClass.keys), [0, 1, 2])
        for c in 0..<3 {
            // Per-class moments against a naive reference over that class's rows.
            var rows: [Float] = []
            for i in 0..<n where labels[i] == Int32(c) { rows += x[(i * d)..<((i + 1) * d)] }
            let (mu, cov) = TestSupport.naiveMoments(rows, d: d)
            XCTAssertLessThan(TestSupport.maxRelDiff(merged.perClass[c]!.mean, mu), 1e-12)
            XCTAssertLessThan(TestSupport.maxRelDiff(try merged.perClass[c]!.covariance(), cov), 1e-10)
        }
        let a = try merged.statsSet(source: "merged")
        let b = try whole.statsSet(source: "whole")
        XCTAssertEqual(a.samples, b.samples)
        XCTAssertEqual(a.labels, b.labels)
        XCTAssertThrowsError(try StreamingStats.decode(try NPZ.encode(arrays: []), source: "empty"))
    }
}
