import FlowTestSupport
import Foundation
import XCTest

/// `--metrics` with the real binary: a live `flowturbo run` answers Prometheus scrapes from a plain TCP client while it
/// runs, its counters reach the run's size (computed here from the flags and read back from the journal), and a
/// non-loopback address is refused up front. Also the bounds of `--heartbeat-ms` / `--liveness`.
final class MetricsEndToEndTests: XCTestCase {
    override class func tearDown() {
        Harness.removeTempDirs()
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Harness.binary) else {
            throw XCTSkip("flowturbo binary not built next to the tests (\(Harness.binary)); run `swift build` first")
        }
    }

    /// The port of the `serving http://127.0.0.1:PORT/metrics` log line in `path`, or 0.
    static func metricsPort(in path: String) -> Int {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard let r = text.range(of: "serving http://127.0.0.1:") else { return 0 }
        return Int(text[r.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    func testRunServesMetricsWhileLiveAndCountsEveryShard() throws {
        let d = Harness.tempDir("metrics")
        // 160 samples in shards of 16 and batches of 8: 10 shards, 20 batches, each batch held ≥ 100 ms.
        let p = try Harness.start(
            [
                "run", "--workers", "2", "--out", d + "/run", "--worker-batch-delay-ms", "100", "--metrics",
                "127.0.0.1:0",
                "--metrics-linger", "30", "--heartbeat-ms", "200", "--liveness", "5",
            ] + Harness.smallRun,
            logDir: d, tag: "metrics")
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        var port = 0
        XCTAssertTrue(
            Harness.wait(timeout: 60) {
                port = Self.metricsPort(in: d + "/metrics.err")
                return port > 0
            },
            "no metrics address logged")
        var live: [String: Double]?
        var final: [String: Double]?
        let deadline = Date().addingTimeInterval(120)
        while final == nil && Date() < deadline && p.isRunning {
            guard let r = PlainHTTPClient.request(port: port, path: "/metrics") else {
                usleep(50_000)
                continue
            }
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
            let v = PlainHTTPClient.samples(r.body)
            let committed = try XCTUnwrap(v["flowturbo_shards_committed_total"], "no shards counter in:\n\(r.body)")
            if committed < 10 && live == nil { live = v }
            if committed >= 10 { final = v }
            usleep(50_000)
        }
        let during = try XCTUnwrap(live, "no scrape answered while the run was live")
        XCTAssertEqual(during["flowturbo_samples_total"], 160)
        XCTAssertNotNil(during["flowturbo_workers_alive"])
        let v = try XCTUnwrap(final, "flowturbo_shards_committed_total never reached 10")
        // Lingering: the run has finished and written its journal while /metrics still answers.
        XCTAssertEqual(Harness.committedShards(d + "/run").count, 10)
        XCTAssertEqual(PlainHTTPClient.request(port: port, path: "/nothing-here")?.status, 404)
        XCTAssertEqual(v["flowturbo_shards_committed_total"], 10)
        XCTAssertEqual(v["flowturbo_samples_committed_total"], 160)
        XCTAssertEqual(v["flowturbo_shards"], 10)
        XCTAssertEqual(v["flowturbo_requeues_total"], 0)
        XCTAssertEqual(v["flowturbo_banned_workers_total"], 0)
        XCTAssertEqual(v["flowturbo_dropped_frames_total"], 0)
        XCTAssertLessThanOrEqual(v["flowturbo_workers_alive"] ?? -1, 2)
        // One `total` latency per batch: the buckets hold exactly the batch times in the shards' JSON files.
        let batchSeconds = try (0..<10).flatMap { shard in
            let meta = try Harness.json(d + "/run/latents/shard-" + String(format: "%06d", shard) + ".json")
            return try XCTUnwrap(meta["batch_seconds"] as? [Double])
        }
        XCTAssertEqual(batchSeconds.count, 20)
        let series = "flowturbo_stage_latency_seconds"
        let prefix = series + "_bucket{stage=\"total\",le=\""
        let buckets = v.keys.filter { $0.hasPrefix(prefix) && !$0.contains("+Inf") }
        XCTAssertGreaterThan(buckets.count, 5)
        for key in buckets {
            let le = try XCTUnwrap(Double(key.dropFirst(prefix.count).dropLast(2)), key)
            XCTAssertEqual(v[key], Double(batchSeconds.filter { $0 <= le }.count), key)
        }
        XCTAssertEqual(v[series + "_bucket{stage=\"total\",le=\"+Inf\"}"], 20)
        XCTAssertEqual(v[series + "_count{stage=\"total\"}"], 20)
        XCTAssertEqual(v[series + "_sum{stage=\"total\"}"] ?? 0, batchSeconds.reduce(0, +), accuracy: 1e-6)
        XCTAssertLessThanOrEqual(v[series + "_count{stage=\"queue_wait\"}"] ?? 99, 10, "one queue wait per shard")
        // A stop signal ends the linger; the run itself completed.
        kill(p.processIdentifier, SIGINT)
        XCTAssertTrue(Harness.wait(timeout: 20) { !p.isRunning }, "the linger did not end on SIGINT")
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, (try? String(contentsOfFile: d + "/metrics.err", encoding: .utf8)) ?? "")
        XCTAssertNil(PlainHTTPClient.request(port: port, path: "/metrics", timeout: 1), "the server outlived the run")
    }

    func testNonLoopbackMetricsAddressIsRefusedWithoutTheAllowFlag() throws {
        let d = Harness.tempDir("metrics-remote")
        for command in ["run", "coordinator"] {
            let (status, err) = try Harness.run(
                [command, "--out", d + "/\(command)", "--metrics", "0.0.0.0:9"] + Harness.smallRun, logDir: d,
                tag: command, timeout: 30)
            XCTAssertNotEqual(status, 0, command)
            let lines = err.split(separator: "\n").filter { $0.contains("0.0.0.0") }
            XCTAssertEqual(lines.count, 1, err)
            XCTAssertTrue(err.contains("--metrics-allow-remote"), err)
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: d + "/\(command)/journal.log"), "refused after starting")
        }
    }

    func testHeartbeatAndLivenessBounds() throws {
        let d = Harness.tempDir("liveness-flags")
        let cases: [([String], String)] = [
            (["run", "--heartbeat-ms", "5"], "--heartbeat-ms 5"),
            (["run", "--liveness", "1"], "--liveness 1"),
            (["coordinator", "--heartbeat-ms", "600000"], "--heartbeat-ms 600000"),
            (["run", "--metrics-linger", "5"], "--metrics HOST:PORT"),
            (["run", "--log-level", "loud"], "--log-level loud"),
            (["worker", "--heartbeat-ms", "0", "--model", "gmm:synthetic"], "--heartbeat-ms 0"),
        ]
        for (i, (flags, message)) in cases.enumerated() {
            let common = flags[0] == "worker" ? [] : ["--out", d + "/run\(i)"] + Harness.smallRun
            let (status, err) = try Harness.run(flags + common, logDir: d, tag: "case\(i)", timeout: 30)
            XCTAssertNotEqual(status, 0, flags.joined(separator: " "))
            XCTAssertTrue(err.contains(message), "\(flags): \(err)")
        }
    }
}
