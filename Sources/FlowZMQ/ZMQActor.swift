import Foundation

/// A thread that owns its sockets, tied to its creator by an inproc PAIR pipe (czmq's `zactor`).
///
/// `init` starts `body` on a new thread with the actor's end of the pipe; the body polls the pipe with its own
/// sockets and returns when `ZMQActor.terminated(_:)` says the creator asked it to. `stop()` sends the terminate
/// message and joins the thread (idempotent). The creator's end (`pipe`) can carry other messages both ways.
public final class ZMQActor {
    /// The message `stop()` sends.
    public static let terminate: [UInt8] = Array("$TERM".utf8)
    /// The creator's end of the pipe.
    public let pipe: ZMQSocket
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var running = true

    /// Starts `body` on a thread named `name`; the actor's end of the pipe is closed when the body returns.
    public init(context: ZMQContext, name: String, body: @escaping (ZMQSocket) -> Void) throws {
        let endpoint = "inproc://actor-\(name)-\(UInt64.random(in: 0...UInt64.max))"
        pipe = try context.socket(.pair)
        try pipe.setLinger(0)
        try pipe.bind(endpoint)
        let back = try context.socket(.pair)
        try back.setLinger(0)
        try back.connect(endpoint)
        let done = finished
        let thread = Thread {
            body(back)
            back.close()
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    deinit { stop() }

    /// Sends the terminate message and waits for the body to return (at once if it already has).
    public func stop() {
        lock.lock()
        let wasRunning = running
        running = false
        lock.unlock()
        guard wasRunning else { return }
        try? pipe.send([ZMQActor.terminate], dontWait: true)
        finished.wait()
        pipe.close()
    }

    /// Actor side: reads (and drops) every waiting message on `pipe`; true when one is the terminate message.
    public static func terminated(_ pipe: ZMQSocket) -> Bool {
        var term = false
        while let frames = try? pipe.receive(dontWait: true) {
            if frames.first == terminate { term = true }
        }
        return term
    }
}
