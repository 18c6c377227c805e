import FlowStats
import XCTest

final class ClassAgreementTests: XCTestCase {
    /// Against a direct count over (predicted, requested) pairs grouped by class, on seeded random data.
    func testMatchesGroupedCount() {
        var state: UInt64 = 42
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        let n = 500
        let requested = (0..<n).map { _ in Int32(next(10)) }
        let predicted = requested.map { next(4) == 0 ? next(10) : Int($0) }
        let a = ClassAgreement(predicted: predicted, requested: requested, classes: 10)
        let groups = Dictionary(grouping: zip(predicted, requested), by: { $0.1 })
        for (c, pairs) in groups {
            let share = Double(pairs.filter { $0.0 == Int($0.1) }.count) / Double(pairs.count)
            XCTAssertEqual(a.perClass[Int(c)]!, share, accuracy: 1e-15)
        }
        let all = Double(zip(predicted, requested).filter { $0.0 == Int($0.1) }.count) / Double(n)
        XCTAssertEqual(a.overall, all, accuracy: 1e-15)
        XCTAssertEqual(a.samples, n)
    }

    /// Null-class labels are not counted; an unclassifiable sample (-1) is wrong; absent classes have no entry.
    func testNullLabelsAndUnclassifiable() {
        let a = ClassAgreement(predicted: [3, -1, 5, 0], requested: [3, 3, 10, 0], classes: 10)
        XCTAssertEqual(a.samples, 3)
        XCTAssertEqual(a.perClass[3], 0.5)
        XCTAssertEqual(a.perClass[0], 1)
        XCTAssertNil(a.perClass[5])
        XCTAssertEqual(a.overall, 2.0 / 3.0, accuracy: 1e-15)
        let json = a.json
        XCTAssertNotNil(json["overall"] as? Double)
        XCTAssertEqual((json["per_class"] as? [String: Double])?["3"], 0.5)
    }
}
