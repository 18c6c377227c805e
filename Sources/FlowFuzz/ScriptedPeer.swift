import FlowCluster
import FlowProto
import Foundation

/// A protocol peer driven by code, over real sockets (fuzzing and tests): it says hello like a worker,
/// asks for work, heartbeats, and answers assignments with results built from the fuzz corpus values —
/// or keeps its leases so a test can forge results against them.
public final class ScriptedPeer {
    public let workerID: String
    private let dealer: ZMQSocket
    private let push: ZMQSocket
    private let models: [Flowturbo_V1_ModelDigest]
    private var lastHeartbeat = Date.distantPast
    /// Assignments received so far, in order.
    public private(set) var assignments: [Flowturbo_V1_ShardAssignment] = []
    public private(set) var welcomed = false
    /// Reason of a Shutdown received (nil while none came) and whether it was a refusal.
    public private(set) var shutdown: Flowturbo_V1_Shutdown?

    /// Connects the control DEALER and the data PUSH (with `curve`, as that key's client).
    public init(
        context: ZMQContext, control: String, data: String, workerID: String,
        models: [Flowturbo_V1_ModelDigest], curve: CurveClientSecurity? = nil
    ) throws {
        self.workerID = workerID
        self.models = models
        dealer = try context.socket(.dealer)
        try dealer.setLinger(0)
        try curve?.apply(to: dealer)
        try dealer.connect(control)
        push = try context.socket(.push)
        try push.setLinger(2000)
        try curve?.apply(to: push)
        try push.connect(data)
    }

    /// Closes both sockets.
    public func close() {
        dealer.close()
        push.close()
    }

    /// Sends one control envelope.
    public func send(_ f: (inout Flowturbo_V1_Envelope) -> Void) {
        var e = Flowturbo_V1_Envelope()
        f(&e)
        if let b = try? e.serializedBytes() as [UInt8] { try? dealer.send(b, dontWait: true) }
    }

    /// Sends raw bytes as one control frame (e.g. something undecodable).
    public func sendRaw(_ bytes: [UInt8]) { try? dealer.send(bytes, dontWait: true) }

    /// Hello with this peer's id and models at the current protocol version.
    public func hello() {
        send {
            $0.hello.workerID = workerID
            $0.hello.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
            $0.hello.models = models
            $0.hello.host = "scripted"
        }
    }

    public func requestWork() { send { $0.workRequest.workerID = workerID } }

    /// Heartbeats at most every 0.5 s (call often).
    public func heartbeat() {
        guard Date().timeIntervalSince(lastHeartbeat) > 0.5 else { return }
        lastHeartbeat = Date()
        send { $0.heartbeat.workerID = workerID }
    }

    /// Reads control messages for up to `timeoutMs`; returns the assignments that arrived.
    @discardableResult
    public func poll(timeoutMs: Int) -> [Flowturbo_V1_ShardAssignment] {
        var fresh: [Flowturbo_V1_ShardAssignment] = []
        guard let ready = try? ZMQPoll.readable([dealer], timeoutMs: timeoutMs), ready[0] else { return fresh }
        while let frames = try? dealer.receive(dontWait: true), let last = frames.last {
            guard let e = try? Flowturbo_V1_Envelope(serializedBytes: last) else { continue }
            switch e.body {
            case .welcome?: welcomed = true
            case .assignment(let a)?: fresh.append(a)
            case .shutdown(let s)?: shutdown = s
            default: break
            }
        }
        assignments += fresh
        return fresh
    }

    /// Pushes one result envelope on the data socket.
    public func pushResult(_ r: Flowturbo_V1_ShardResult) {
        var e = Flowturbo_V1_Envelope()
        e.result = r
        if let b = try? e.serializedBytes() as [UInt8] { try? push.send(b) }
    }

    /// The valid answer to `a` (fuzz corpus latents for its shard, its lease id and token).
    public func answer(_ a: Flowturbo_V1_ShardAssignment, evalSet: EvalSet) -> Flowturbo_V1_ShardResult {
        var r = FuzzCorpus.result(shard: Int(a.shardID), evalSet: evalSet, workerID: workerID)
        r.leaseID = a.leaseID
        r.leaseToken = a.leaseToken
        return r
    }

    /// Works like an honest worker until `done()` or `seconds` pass: hello, then answer every assignment
    /// and ask for more. Returns whether `done()` became true.
    public func serve(evalSet: EvalSet, seconds: Double, done: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        hello()
        var asked = false
        while Date() < deadline && !done() {
            for a in poll(timeoutMs: 20) {
                pushResult(answer(a, evalSet: evalSet))
                requestWork()
            }
            if welcomed && !asked {
                requestWork()
                requestWork()
                asked = true
            }
            if shutdown != nil { break }
            heartbeat()
        }
        // A Shutdown arrives just before the coordinator returns: give `done()` a moment.
        while shutdown != nil && !done() && Date() < deadline { usleep(5000) }
        return done()
    }
}
