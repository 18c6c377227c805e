import FlowCluster
import FlowProto
import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Fuzzes a live coordinator + aggregator over real sockets: mutated multipart control messages
/// from several DEALER peers (0–3 frames, random identities), mutated results on the data port,
/// and raw mutated ZMTP byte streams on the control port. Liveness is probed throughout (a hello
/// must get a Welcome). An honest scripted peer holds real leases while the data port also gets
/// lease forgeries against them (`FuzzLeases`: wrong token, guessed lease ids, and in every other session,
/// run with CURVE, the right token from another allow-listed key). At the end honest peers answer every
/// shard and the run must complete with only genuine latents written — malformed input may be dropped
/// and counted, never crash or stall the run, and no forgery may ever be written.
public enum FuzzFrames {
    /// Runs the target for about `seconds`; `record` sees each input before it is sent.
    public static func run(
        seconds: Double, seed: UInt64, workDir: String, record: ([UInt8]) -> Void = { _ in }
    ) throws -> FuzzStats {
        var stats = FuzzStats()
        var rng = FuzzMutator(seed: seed)
        let start = Date()
        var session = 0
        var dropped = 0
        var oversized = 0
        var aggDropped = 0
        var rejectedConn = 0
        var disconnects = 0
        var forged = 0
        while Date().timeIntervalSince(start) < seconds {
            session += 1
            let remaining = seconds - Date().timeIntervalSince(start)
            let curve = session % 2 == 0 && CurveKeys.available
            // At most half the budget per run, so both a plaintext and a CURVE session happen.
            let s = try runSession(
                seconds: min(remaining, max(2, seconds / 2)), rng: &rng,
                dir: workDir + "/s\(session)", curve: curve, stats: &stats, record: record)
            if let sum = s {
                dropped += sum.droppedFrames
                oversized += sum.oversizedFrames
                aggDropped += sum.aggregator.dropped
                rejectedConn += sum.rejectedConnections
                disconnects += sum.disconnects
                forged += sum.aggregator.forged
            }
            try? FileManager.default.removeItem(atPath: workDir + "/s\(session)")
        }
        stats.restarts = session - 1
        stats.seconds = Date().timeIntervalSince(start)
        stats.rejected = dropped + oversized + aggDropped + forged
        stats.notes.append(
            "coordinator: \(dropped) dropped + \(oversized) oversized control frames, "
                + "aggregator: \(aggDropped) dropped + \(forged) forged results refused, "
                + "\(rejectedConn) connections without handshake, \(disconnects) disconnects, "
                + "\(session) run(s)")
        return stats
    }

    private final class Box {
        var summary: CoordinatorSummary?
        var error: Error?
        var done = false
        let lock = NSLock()
    }

    /// Keys of a CURVE session: the coordinator's, the honest holder's and another allow-listed one (fuzz
    /// peers and the forger use it).
    private struct SessionKeys { let server: CurveKeyPair, holder: CurveKeyPair, other: CurveKeyPair }

    /// One coordinator lifetime. Returns its summary (nil if it stopped with an error).
    private static func runSession(
        seconds: Double, rng: inout FuzzMutator, dir: String, curve: Bool,
        stats: inout FuzzStats, record: ([UInt8]) -> Void
    ) throws -> CoordinatorSummary? {
        let samples = 512
        let loopback = "tcp://127.0.0.1:0"
        var config = FuzzCorpus.coordinatorConfig(
            outDir: dir, samples: samples, controlBind: loopback,
            dataBind: loopback)
        let keys =
            curve
            ? SessionKeys(
                server: try CurveKeys.generate(), holder: try CurveKeys.generate(),
                other: try CurveKeys.generate()) : nil
        if let k = keys {
            config.curve = CurveServerSecurity(keys: k.server, allowed: [k.holder.publicKey, k.other.publicKey])
        }
        let client = { (pair: CurveKeyPair) -> CurveClientSecurity? in
            keys.map { CurveClientSecurity(serverKey: $0.server.publicKey, keys: pair) }
        }
        let context = try ZMQContext()
        let coordinator = try Coordinator(config: config, context: context)
        let controlEndpoint = "tcp://127.0.0.1:\(coordinator.controlPort)"
        let dataEndpoint = "tcp://127.0.0.1:\(coordinator.dataPort)"
        let box = Box()
        let thread = Thread {
            do {
                let s = try coordinator.run()
                box.lock.lock()
                box.summary = s
                box.lock.unlock()
            } catch {
                box.lock.lock()
                box.error = error
                box.lock.unlock()
            }
            box.lock.lock()
            box.done = true
            box.lock.unlock()
        }
        thread.start()
        func finished() -> Bool {
            box.lock.lock()
            defer { box.lock.unlock() }
            return box.done
        }

        let evalSet = config.evalSet
        var corpus = FuzzCorpus.envelopes(evalSet: evalSet)
        for shard in [0, 5, 17] {
            var e = Flowturbo_V1_Envelope()
            e.result = FuzzCorpus.result(shard: shard, evalSet: evalSet)
            if let b = try? e.serializedBytes() as [UInt8] { corpus.append(b) }
        }
        let zmtp = zmtpStream(frames: [corpus[0]])
        var dealers: [ZMQSocket] = []
        for i in 0..<4 {
            let d = try context.socket(.dealer)
            try d.setLinger(0)
            if i % 2 == 1 { try d.setOption(ZMQ_ROUTING_ID_OPTION, bytes: [UInt8(i), 0xFF, 0x00]) }
            if let k = keys { try client(k.other)?.apply(to: d) }
            try d.connect(controlEndpoint)
            dealers.append(d)
        }
        let push = try context.socket(.push)
        try push.setLinger(0)
        if let k = keys { try client(k.other)?.apply(to: push) }
        try push.connect(dataEndpoint)
        // An honest peer that takes real leases and answers them only at the end: the forgeries' targets.
        let holder = try ScriptedPeer(
            context: context, control: controlEndpoint, data: dataEndpoint,
            workerID: "holder", models: config.models, curve: keys.map { client($0.holder)! })
        holder.hello()
        var forgeries: [FuzzLeases.Kind: Int] = [:]
        let started = Date()
        var lastProbe = Date()
        var probes = 0
        while Date().timeIntervalSince(started) < seconds && !finished() {
            let fresh = holder.poll(timeoutMs: 0)
            if !fresh.isEmpty || (holder.welcomed && holder.assignments.isEmpty && rng.below(50) == 0) {
                holder.requestWork()
            }
            holder.heartbeat()
            let input = rng.mutate(corpus[rng.below(corpus.count)], corpus: corpus)
            record(input)
            stats.executions += 1
            switch rng.below(12) {
            case 0..<6:
                // 0–3 frames; the ROUTER prepends the identity, so frames.count == 2 is the valid shape.
                var frames: [[UInt8]] = [input]
                switch rng.below(6) {
                case 0: frames = []
                case 1: frames = [input, input]
                case 2: frames = [[], input, [1]]
                default: break
                }
                if frames.isEmpty { frames = [[]] }
                try? dealers[rng.below(dealers.count)].send(frames, dontWait: true)
            case 6..<8:
                try? push.send([input], dontWait: true)
            case 8..<11:
                // A lease forgery against the honest holder's leases (stolen tokens go out on the other key).
                let forgery = FuzzLeases.forge(holder.assignments, evalSet: evalSet, curve: keys != nil, rng: &rng)
                if let (r, kind) = forgery {
                    var e = Flowturbo_V1_Envelope()
                    e.result = r
                    if let b = try? e.serializedBytes() as [UInt8] {
                        record(b)
                        try? push.send([b], dontWait: true)
                    }
                    forgeries[kind, default: 0] += 1
                }
            case 11 where rng.below(8) != 0:  // raw TCP in 1 of 96 executions
                try? push.send([input], dontWait: true)
            default:
                _ = rawTCP(port: coordinator.controlPort, bytes: rng.mutate(zmtp, corpus: [zmtp]), waitMs: 5)
            }
            if Date().timeIntervalSince(lastProbe) > 1 {
                lastProbe = Date()
                probes += 1
                let probeKeys = keys.map { client($0.other)! }
                let answered =
                    finished()
                    || probe(
                        context: context, endpoint: controlEndpoint, id: "probe-\(probes)", models: config.models,
                        curve: probeKeys)
                if !answered && !finished() {
                    stats.hangs += 1
                    stats.notes.append("no Welcome within 3 s after \(stats.executions) executions")
                }
            }
        }
        // Complete the run: the fuzz peers go away (their leases expire with their heartbeats), the holder
        // answers its leases, a second honest peer serves the rest (the coordinator must still accept them).
        for d in dealers { d.close() }
        for a in holder.assignments { holder.pushResult(holder.answer(a, evalSet: evalSet)) }
        let completer = try ScriptedPeer(
            context: context, control: controlEndpoint, data: dataEndpoint,
            workerID: "completer", models: config.models,
            curve: keys.map { client($0.holder)! })
        _ = completer.serve(evalSet: evalSet, seconds: 30) {
            for a in holder.poll(timeoutMs: 0) { holder.pushResult(holder.answer(a, evalSet: evalSet)) }
            holder.heartbeat()
            return finished()
        }
        push.close()
        holder.close()
        completer.close()
        if !finished() {
            stats.hangs += 1
            stats.notes.append("coordinator did not finish within 30 s after honest peers served every shard")
            coordinator.stopToken.stop()
            while !finished() { usleep(5000) }
        }
        let (checked, poisoned) = FuzzLeases.poisonedShards(dir: dir, evalSet: evalSet)
        if !poisoned.isEmpty {
            let ids = poisoned.prefix(8).map(String.init).joined(separator: ", ")
            stats.notes.append("forged results were written: shards \(ids) did not hold the genuine latents")
        }
        let tally = FuzzLeases.Kind.allCases.map { "\(forgeries[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
        stats.notes.append(
            "session \(curve ? "with" : "without") CURVE: forgeries \(tally); "
                + "\(checked - poisoned.count) of \(checked) committed shards genuine")
        box.lock.lock()
        defer { box.lock.unlock() }
        if let e = box.error {
            stats.notes.append("session stopped: \(e)")
            return nil
        }
        if let s = box.summary, !s.completed { stats.notes.append("session did not complete") }
        if let s = box.summary { stats.accepted += s.committedThisSession }
        return box.summary
    }

    private static let ZMQ_ROUTING_ID_OPTION: Int32 = 5

    /// A fresh DEALER says hello (a new worker id each time: fuzzed ids may be banned) and must get a Welcome
    /// within 3 s.
    private static func probe(
        context: ZMQContext, endpoint: String, id: String, models: [Flowturbo_V1_ModelDigest],
        curve: CurveClientSecurity?
    ) -> Bool {
        guard let d = try? context.socket(.dealer) else { return false }
        defer { d.close() }
        try? d.setLinger(0)
        if let c = curve, (try? c.apply(to: d)) == nil { return false }
        var hello = Flowturbo_V1_Envelope()
        hello.hello.workerID = id
        hello.hello.protocolVersion = UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue)
        hello.hello.models = models
        guard let bytes = try? hello.serializedBytes() as [UInt8], (try? d.connect(endpoint)) != nil,
            (try? d.send([bytes])) != nil
        else { return false }
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            guard let ready = try? ZMQPoll.readable([d], timeoutMs: 100), ready[0] else { continue }
            while let frames = try? d.receive(dontWait: true) {
                if let f = frames.last, let e = try? Flowturbo_V1_Envelope(serializedBytes: f), case .welcome? = e.body
                {
                    return true
                }
            }
        }
        return false
    }

    /// A ZMTP 3.1 byte stream of a DEALER (NULL mechanism) sending `frames` as one message (fuzz seed).
    public static func zmtpStream(frames: [[UInt8]]) -> [UInt8] {
        var b: [UInt8] = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1]
        b += Array("NULL".utf8) + [UInt8](repeating: 0, count: 16) + [0] + [UInt8](repeating: 0, count: 31)
        let prop =
            [UInt8(11)] + Array("Socket-Type".utf8) + [0, 0, 0, 6] + Array("DEALER".utf8)
            + [UInt8(8)] + Array("Identity".utf8) + [0, 0, 0, 0]
        let ready = [UInt8(5)] + Array("READY".utf8) + prop
        b += [0x04, UInt8(ready.count)] + ready
        for (i, f) in frames.enumerated() {
            let more: UInt8 = i + 1 < frames.count ? 1 : 0
            if f.count < 256 {
                b += [more, UInt8(f.count)]
            } else {
                b +=
                    [more | 2]
                    + (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(f.count) >> (8 * UInt64($0))) }
            }
            b += f
        }
        return b
    }

    /// Opens a TCP connection to 127.0.0.1:`port`, writes `bytes` in the phases of a ZMTP handshake
    /// (waiting up to `waitMs` for the server between them) and closes it; returns what the server sent.
    /// (libzmq 4.3 stalls on a greeting written in one piece before its own signature is out.)
    public static func rawTCP(port: Int, bytes: [UInt8], waitMs: Int32 = 50) -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard ok else { return [] }
        var received: [UInt8] = []
        func readSome() {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, waitMs) > 0 else { return }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, Int32(MSG_DONTWAIT)) }
            if n > 0 { received += buf[0..<n] }
        }
        // Phases of a ZMTP 3 handshake: signature, major version, rest of the greeting, then traffic.
        var from = 0
        for cut in [10, 11, 64, bytes.count] where cut > from && from < bytes.count {
            let to = min(cut, bytes.count)
            _ = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + from, to - from, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            }
            from = to
            readSome()
        }
        return received
    }
}
