import XCTest
final class FlowSamplerTestsPlaceholder: XCTestCase { func testLinked() {} }
