import XCTest
final class FlowClusterTestsPlaceholder: XCTestCase { func testLinked() {} }
