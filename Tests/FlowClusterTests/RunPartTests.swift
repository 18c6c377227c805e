import Foundation
import XCTest

@testable import FlowCluster

/// `RunPart` parsing and shard ownership, and the progress line written when stderr is not a terminal.
final class RunPartTests: XCTestCase {
    func testPartsTileEveryShardExactlyOnce() throws {
        for n in 1...5 {
            for shards in [0, 1, 4, 7, 12] {
                var seen = [Int](repeating: 0, count: shards)
                for i in 0..<n {
                    let p = try RunPart(parsing: "\(i)/\(n)")
                    XCTAssertEqual(p.description, "\(i)/\(n)")
                    for s in p.shards(of: shards) {
                        XCTAssertTrue(p.owns(shard: s))
                        seen[s] += 1
                    }
                    // Independent reference: ownership by scanning every shard.
                    XCTAssertEqual(p.shards(of: shards), (0..<shards).filter { $0 % n == i })
                }
                XCTAssertEqual(seen, [Int](repeating: 1, count: shards), "n \(n), shards \(shards)")
            }
        }
    }

    func testBadPartsAreRefusedWithTheZeroBasedHint() {
        for text in ["4/3", "-1/3", "0/0", "1", "a/3", "1/3/4", ""] {
            XCTAssertThrowsError(try RunPart(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains("0-based") || "\(error)".contains("at least 1"), "\(error)")
            }
        }
        XCTAssertThrowsError(try RunPart(parsing: "4/3")) { XCTAssertTrue("\($0)".contains("0 to 2"), "\($0)") }
        // 1-based numbering (1/3, 2/3, 3/3) names the same three parts as 0/3, 1/3, 2/3.
        XCTAssertEqual(try RunPart(parsing: "3/3"), try RunPart(parsing: "0/3"))
        XCTAssertEqual(Set(try ["1/3", "2/3", "3/3"].map { try RunPart(parsing: $0).index }), [0, 1, 2])
    }

    func testProgressLinesEveryIntervalWithRateAndETA() {
        var out: [String] = []
        let bar = ProgressBar(total: 1000, baseline: 0, mode: .lines(interval: 3600)) { out.append($0) }
        bar.update(done: 100, workers: 2)  // within the interval: nothing
        XCTAssertEqual(out, [])
        usleep(200_000)
        bar.update(done: 640, workers: 2, requeues: 1, force: true)
        bar.finish()
        XCTAssertEqual(out.count, 1)
        let line = out[0]
        XCTAssertTrue(line.hasPrefix("progress: 640/1000 samples (64.0%), "), line)
        XCTAssertTrue(line.hasSuffix(", workers 2, requeues 1\n"), line)
        // samples/s and ETA agree with each other: ETA ≈ (total − done) / rate.
        let parts = line.components(separatedBy: ", ")
        let rate = Double(parts[1].components(separatedBy: " ")[0])!
        let eta = Double(parts[2].components(separatedBy: " ")[1])!
        XCTAssertGreaterThan(rate, 0)
        XCTAssertLessThan(rate, 640 / 0.2 + 1)
        XCTAssertEqual(eta, (360 / rate).rounded(.up), accuracy: 1)
    }

    func testHeaderRecordsThePartAndOlderJournalsStayReadable() throws {
        var h = RunHeader(
            evalSetId: "x", samples: 10, classes: 2, labelMode: "balanced", seed: 1, plan: "H8",
            guidanceScale: 1, guidanceChannels: 0, batch: 2, shardSize: 4, models: [])
        let enc = JSONEncoder()
        XCTAssertFalse(String(decoding: try enc.encode(h), as: UTF8.self).contains("part"))
        var p = h
        p.part = "1/3"
        XCTAssertNotNil(p.firstDifference(from: h))
        h.part = "1/3"
        XCTAssertEqual(try JSONDecoder().decode(RunHeader.self, from: enc.encode(h)), h)
    }
}
