import FlowProto
import FlowTestSupport
import Foundation
import XCTest

@testable import FlowCluster
@testable import FlowFuzz

/// A coordinator running on its own thread (tests of the trust path).
final class LiveCoordinator {
    let coordinator: Coordinator
    let config: CoordinatorConfig
    let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var _summary: CoordinatorSummary?
    private var _error: Error?
    var summary: CoordinatorSummary? { locked { _summary } }
    var error: Error? { locked { _error } }
    var control: String { "tcp://127.0.0.1:\(coordinator.controlPort)" }
    var data: String { "tcp://127.0.0.1:\(coordinator.dataPort)" }

    init(_ config: CoordinatorConfig, context: ZMQContext) throws {
        self.config = config
        coordinator = try Coordinator(config: config, context: context)
        Thread { [self] in
            do {
                let s = try coordinator.run()
                locked { _summary = s }
            } catch {
                locked { _error = error }
            }
            done.signal()
        }.start()
    }

    private func locked<T>(_ f: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return f()
    }

    /// True once `run()` returned (does not consume the completion signal).
    func finished() -> Bool {
        guard done.wait(timeout: .now()) == .success else { return false }
        done.signal()
        return true
    }
}

/// Loopback coordinators and scripted peers for the trust-path tests.
extension XCTestCase {
    /// A fresh temporary directory.
    func trustTempDir(_ tag: String) -> String {
        TestEnvironment.tempDirectory("lease-\(tag)")
    }

    /// The fuzz corpus configuration on loopback ports.
    func loopbackConfig(_ dir: String, samples: Int) -> CoordinatorConfig {
        FuzzCorpus.coordinatorConfig(
            outDir: dir, samples: samples, controlBind: "tcp://127.0.0.1:0",
            dataBind: "tcp://127.0.0.1:0")
    }

    func peer(
        _ live: LiveCoordinator, _ context: ZMQContext, _ id: String, models: [Flowturbo_V1_ModelDigest]? = nil,
        curve: CurveClientSecurity? = nil
    ) throws -> ScriptedPeer {
        try ScriptedPeer(
            context: context, control: live.control, data: live.data, workerID: id,
            models: models ?? live.config.models, curve: curve)
    }

    /// Says hello and asks for work until `peer` holds `count` leases (or 5 s pass).
    func acquire(_ peer: ScriptedPeer, _ count: Int) {
        peer.hello()
        let deadline = Date().addingTimeInterval(5)
        while peer.assignments.count < count && Date() < deadline {
            if peer.poll(timeoutMs: 50).isEmpty && peer.welcomed && peer.assignments.isEmpty {
                for _ in 0..<count { peer.requestWork() }
            }
        }
    }
}
