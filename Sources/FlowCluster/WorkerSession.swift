import FlowProto
import Foundation

/// A worker's protocol with the coordinator as a pure state machine: hello → welcomed → asked → computing →
/// result pending → asked …, heartbeats, and the Paranoid Pirate reconnect with exponential backoff when the
/// coordinator goes silent. Every event carries `now`; the returned actions are performed in order by the I/O
/// shell (`Worker`: sockets, the compute thread, the program cache).
struct WorkerSession {
    /// What the shell does for the session.
    enum Action: Equatable {
        /// (Re)open the control connection and send the hello.
        case connect
        /// Connect the result socket to the coordinator host's data port (the Welcome's).
        case connectData(port: Int)
        case requestWork
        /// Validate the assignment and start computing it; the outcome comes back as `computeFinished` or
        /// `computeFailed`.
        case start(Flowturbo_V1_ShardAssignment)
        /// An assignment while a shard is computing or its result not yet handed off: answer "busy".
        case refuseBusy(Flowturbo_V1_ShardAssignment)
        /// Send this error report on the control connection.
        case report(Flowturbo_V1_Error)
        case heartbeat(busy: Bool)
        /// Stop: the coordinator said so (`refused`: the worker exits with an error).
        case finish(reason: String, refused: Bool)
        /// No coordinator for `giveUpSeconds`: exit with an error.
        case giveUp(silentSeconds: Double)
    }

    /// Heartbeat interval in force: this worker's own until a Welcome, then the shorter of its own and the
    /// coordinator's (see `timing`).
    private(set) var heartbeatSeconds: Double
    /// Silence (seconds) after which the coordinator is presumed gone and the worker reconnects.
    private(set) var silenceSeconds: Double
    let ownHeartbeatSeconds: Double
    let liveness: Int
    let reconnectInitialSeconds: Double
    let reconnectMaxSeconds: Double
    let giveUpSeconds: Double
    /// A Welcome arrived on the current control connection.
    private(set) var welcomed = false
    /// A work request is outstanding (no assignment since).
    private(set) var asked = false
    /// A shard is computing (from `start` until its outcome).
    private(set) var computing = false
    /// A computed result waits to be handed to the aggregator.
    private(set) var resultPending = false
    private(set) var lastHeard: Date
    private var lastSent = Date.distantPast
    private var backoff: Double
    private var nextReconnect = Date.distantPast
    /// Reconnects after silence, and error reports about own assignments.
    private(set) var reconnects = 0
    private(set) var rejected = 0

    init(config: WorkerConfig, now: Date) {
        ownHeartbeatSeconds = Double(config.heartbeatIntervalMs) / 1000
        heartbeatSeconds = ownHeartbeatSeconds
        liveness = config.liveness
        silenceSeconds = ownHeartbeatSeconds * Double(config.liveness)
        reconnectInitialSeconds = Double(config.reconnectInitialMs) / 1000
        reconnectMaxSeconds = Double(config.reconnectMaxMs) / 1000
        giveUpSeconds = config.giveUpSeconds
        lastHeard = now
        backoff = reconnectInitialSeconds
    }

    /// The run starts: connect and say hello.
    func start() -> [Action] { [.connect] }

    /// Any frame from the coordinator (decodable or not) proves it alive.
    mutating func heard(now: Date) {
        lastHeard = now
        backoff = reconnectInitialSeconds
    }

    /// A decoded control message.
    mutating func received(_ body: Flowturbo_V1_Envelope.OneOf_Body, now: Date) -> [Action] {
        heard(now: now)
        switch body {
        case .welcome(let w):
            welcomed = true
            (heartbeatSeconds, silenceSeconds) = Self.timing(
                ownHeartbeat: ownHeartbeatSeconds, ownLiveness: liveness, welcome: w)
            var actions: [Action] = [.connectData(port: Int(w.dataPort))]
            if !computing && !resultPending && !asked { actions += askForWork() }
            return actions
        case .assignment(let a):
            asked = false
            guard !computing && !resultPending else { return [.refuseBusy(a)] }
            computing = true
            return [.start(a)]
        case .noWork(let n):
            // A NoWork before Welcome (retry 0): the coordinator does not know us (it restarted); hello again.
            guard n.retryAfterMs == 0 else { return [] }
            return reconnect()
        case .shutdown(let s):
            return [.finish(reason: s.reason, refused: s.refused)]
        default:
            return []
        }
    }

    /// The shard's latents are ready to hand to the aggregator.
    mutating func computeFinished() {
        computing = false
        resultPending = true
    }

    /// The shard could not be computed (or the assignment was invalid): report it; ask for more unless fatal.
    mutating func computeFailed(_ e: Flowturbo_V1_Error) -> [Action] {
        computing = false
        rejected += 1
        return [.report(e)] + (e.fatal ? [] : askForWork())
    }

    /// The result went to the aggregator: ask for the next shard (once welcomed).
    mutating func pushed() -> [Action] {
        resultPending = false
        return welcomed ? askForWork() : []
    }

    /// The clock: heartbeat when due, give up after `giveUpSeconds` of silence, reconnect after `liveness`
    /// silent heartbeat intervals (then again after a backoff that doubles up to the maximum).
    mutating func tick(now: Date) -> [Action] {
        var actions: [Action] = []
        if now.timeIntervalSince(lastSent) >= heartbeatSeconds {
            lastSent = now
            actions.append(.heartbeat(busy: computing))
        }
        let silent = now.timeIntervalSince(lastHeard)
        if silent > giveUpSeconds { return actions + [.giveUp(silentSeconds: silent)] }
        if silent > silenceSeconds && now >= nextReconnect {
            reconnects += 1
            actions += reconnect()
            nextReconnect = now.addingTimeInterval(backoff)
            backoff = min(backoff * 2, reconnectMaxSeconds)
        }
        return actions
    }

    /// Heartbeat interval and silence limit (seconds) after the coordinator's Welcome: heartbeats at least as often as
    /// the coordinator expects them (its `--heartbeat-ms`), and the coordinator presumed gone only after its own
    /// liveness window has passed too (a coordinator with a longer interval must not make its workers reconnect in a
    /// loop). A Welcome without an interval (an older coordinator) keeps the worker's own.
    static func timing(
        ownHeartbeat: Double, ownLiveness: Int, welcome w: Flowturbo_V1_Welcome
    )
        -> (heartbeat: Double, silence: Double)
    {
        let ownSilence = ownHeartbeat * Double(ownLiveness)
        guard w.heartbeatIntervalMs > 0 else { return (ownHeartbeat, ownSilence) }
        let theirs = Double(w.heartbeatIntervalMs) / 1000
        return (min(ownHeartbeat, theirs), max(ownSilence, theirs * Double(max(w.liveness, 1))))
    }

    private mutating func askForWork() -> [Action] {
        asked = true
        return [.requestWork]
    }

    private mutating func reconnect() -> [Action] {
        welcomed = false
        asked = false
        return [.connect]
    }
}
