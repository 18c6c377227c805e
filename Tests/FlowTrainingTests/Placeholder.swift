import XCTest
final class FlowTrainingTestsPlaceholder: XCTestCase { func testLinked() {} }
