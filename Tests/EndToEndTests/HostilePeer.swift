import FlowCluster
import FlowProto
import Foundation

/// A second local process's worth of mischief against a live run, from the outside: it reads
/// `<out>/endpoints.json` and, until stopped, pushes zero-filled results for every shard under every lease
/// id it can guess (with no token and with random tokens) to the data port, and says hello on the control
/// port and sends fatal errors about every shard. It holds no keys.
final class HostilePeer {
    private let lock = NSLock()
    private var stopFlag = false
    private let finished = DispatchSemaphore(value: 0)
    private(set) var rounds = 0
    /// Mode bits of endpoints.json and of the run directory when the peer read them.
    private(set) var endpointsMode: mode_t?
    private(set) var directoryMode: mode_t?

    /// Starts attacking the run in `outDir` (waits for its endpoints.json) on a background thread.
    init(outDir: String, shards: Int, shardSize: Int, sampleSize: Int, classes: Int) {
        Thread { [self] in
            defer { finished.signal() }
            let deadline = Date().addingTimeInterval(30)
            let file = outDir + "/endpoints.json"
            while !FileManager.default.fileExists(atPath: file) && Date() < deadline && !stopped { usleep(2000) }
            guard let ports = try? Harness.json(file), let control = ports["control_port"] as? Int,
                let data = ports["data_port"] as? Int
            else { return }
            endpointsMode = PrivateFiles.mode(outDir + "/endpoints.json")
            directoryMode = PrivateFiles.mode(outDir)
            guard let context = try? ZMQContext(), let push = try? context.socket(.push),
                let dealer = try? context.socket(.dealer)
            else { return }
            try? push.setLinger(0)
            try? dealer.setLinger(0)
            try? push.connect("tcp://127.0.0.1:\(data)")
            try? dealer.connect("tcp://127.0.0.1:\(control)")
            let models = (try? ModelBackend.digests(model: "gmm:synthetic", refiner: nil)) ?? []
            while !stopped {
                attackOnce(
                    push: push, dealer: dealer, models: models, shards: shards, shardSize: shardSize,
                    sampleSize: sampleSize, classes: classes)
                lock.lock()
                rounds += 1
                lock.unlock()
                usleep(50_000)
            }
            push.close()
            dealer.close()
        }.start()
    }

    private var stopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopFlag
    }

    /// Stops the attack and waits for the thread.
    func stop() {
        lock.lock()
        stopFlag = true
        lock.unlock()
        finished.wait()
    }

    private func send(_ socket: ZMQSocket, _ f: (inout Flowturbo_V1_Envelope) -> Void) {
        var e = Flowturbo_V1_Envelope()
        f(&e)
        if let b = try? e.serializedBytes() as [UInt8] { try? socket.send(b, dontWait: true) }
    }

    private func attackOnce(
        push: ZMQSocket, dealer: ZMQSocket, models: [Flowturbo_V1_ModelDigest], shards: Int,
        shardSize: Int, sampleSize: Int, classes: Int
    ) {
        send(dealer) {
            $0.hello.workerID = "hostile"
            $0.hello.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
            $0.hello.models = models
        }
        for s in 0..<shards {
            var r = Flowturbo_V1_ShardResult()
            r.shardID = UInt64(s)
            r.workerID = "hostile"
            r.firstIndex = UInt64(s * shardSize)
            r.count = UInt64(shardSize)
            r.shape = [UInt32(shardSize), UInt32(sampleSize)]
            r.latents = Data(count: shardSize * sampleSize * 4)
            r.labels = (0..<shardSize).map { Int32((s * shardSize + $0) % classes) }
            r.nfe = [UInt32](repeating: 8, count: shardSize)
            for lease in Array(UInt64(1)...UInt64(40)) + [424242] {
                r.leaseID = lease
                r.leaseToken = lease % 2 == 0 ? Data() : Data((0..<16).map { _ in UInt8.random(in: 0...255) })
                send(push) { $0.result = r }
                send(dealer) {
                    $0.error.workerID = "hostile"
                    $0.error.shardID = UInt64(s)
                    $0.error.leaseID = lease
                    $0.error.fatal = true
                    $0.error.message = "hostile stop"
                }
            }
        }
    }
}
