import FlowMetrics
import FlowTensor
import FlowTestSupport
import XCTest

/// The NIO server over a real loopback socket, and the address rule.
final class MetricsServerTests: XCTestCase {
    func testServesMetricsAnd404() throws {
        let counter = Counter()
        let server = try MetricsServer(address: try MetricsAddress(parsing: "127.0.0.1:0", allowRemote: false)) {
            Array("flowturbo_test_total \(counter.next())\n".utf8)
        }
        defer { server.stop() }
        XCTAssertGreaterThan(server.port, 0)
        let first = try XCTUnwrap(PlainHTTPClient.request(port: server.port, path: "/metrics"))
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(first.body, "flowturbo_test_total 1\n")
        XCTAssertEqual(first.headers["content-length"], String(first.body.utf8.count))
        // Each scrape renders afresh.
        XCTAssertEqual(
            PlainHTTPClient.request(port: server.port, path: "/metrics?x=1")?.body, "flowturbo_test_total 2\n")
        XCTAssertEqual(PlainHTTPClient.request(port: server.port, path: "/")?.status, 404)
        XCTAssertEqual(PlainHTTPClient.request(port: server.port, path: "/metricsx")?.status, 404)
        let post = PlainHTTPClient.request(port: server.port, path: "/metrics", method: "POST")
        XCTAssertEqual(post?.status, 405)
        let head = PlainHTTPClient.request(port: server.port, path: "/metrics", method: "HEAD")
        XCTAssertEqual(head?.status, 200)
        XCTAssertEqual(head?.body, "")
    }

    func testStopClosesThePort() throws {
        let server = try MetricsServer(address: try MetricsAddress(parsing: "127.0.0.1:0", allowRemote: false)) { [] }
        let port = server.port
        XCTAssertEqual(PlainHTTPClient.request(port: port, path: "/metrics")?.status, 200)
        server.stop()
        XCTAssertNil(PlainHTTPClient.request(port: port, path: "/metrics", timeout: 1))
    }

    func testAddressRule() throws {
        XCTAssertEqual(try MetricsAddress(parsing: "127.0.0.1:9464", allowRemote: false).port, 9464)
        XCTAssertEqual(try MetricsAddress(parsing: "127.3.2.1:0", allowRemote: false).host, "127.3.2.1")
        XCTAssertEqual(try MetricsAddress(parsing: "localhost:9464", allowRemote: false).host, "localhost")
        XCTAssertEqual(try MetricsAddress(parsing: "[::1]:9464", allowRemote: false).host, "::1")
        for remote in ["0.0.0.0:9", "10.0.0.1:9464", "[::]:9464", "example.org:9464", "127.0.0.1.nip.io:9"] {
            XCTAssertThrowsError(try MetricsAddress(parsing: remote, allowRemote: false), remote) { error in
                XCTAssertEqual((error as? FlowError)?.settings, [.metrics, .metricsAllowRemote], "\(error)")
            }
            XCTAssertNoThrow(try MetricsAddress(parsing: remote, allowRemote: true), remote)
        }
        for bad in ["9464", "127.0.0.1", "127.0.0.1:", ":9464", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:x"] {
            XCTAssertThrowsError(try MetricsAddress(parsing: bad, allowRemote: true), bad)
        }
    }
}

/// A thread-safe counter for the body closure.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        n += 1
        return n
    }
}
