import XCTest
final class FlowStatsTestsPlaceholder: XCTestCase { func testLinked() {} }
