import XCTest
final class FlowModelsTestsPlaceholder: XCTestCase { func testLinked() {} }
