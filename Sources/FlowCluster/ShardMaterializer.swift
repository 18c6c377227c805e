import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writes the shard files of sealed shard-log segments off the commit path, on its own thread.
///
/// For each segment, in order: every record's three files in place (mode 0600, no fsync — the segment still holds
/// them), one `syncfs`, then the segment is deleted and the directory fsynced. A crash at any point leaves the
/// segment for `ShardLog.recover`. On a write error (disk full…) it stops applying and keeps this and every later
/// segment; `failure` says why, and the aggregator stops the run with it (`--resume` restores from the segments).
/// At most `maxQueued` segments wait; `submit` blocks beyond that, which bounds memory and the log on disk.
final class ShardMaterializer: @unchecked Sendable {
    struct Segment {
        var path: String
        var entries: [ShardLog.Entry]
    }

    static let maxQueued = 2

    /// Counters, readable at any time.
    struct Stats: Equatable {
        var segments = 0, files = 0
        /// Wall-clock seconds spent writing files and syncing.
        var seconds = 0.0
    }

    private let outDir: String
    private let cond = NSCondition()
    private var queue: [Segment] = []
    private var running = false
    private var _failure: String?
    private var _stats = Stats()

    init(outDir: String) { self.outDir = outDir }

    /// Why the files of a segment could not be written (nil while all is well).
    var failure: String? {
        cond.lock()
        defer { cond.unlock() }
        return _failure
    }

    var stats: Stats {
        cond.lock()
        defer { cond.unlock() }
        return _stats
    }

    /// Queues a sealed segment; starts the thread when it is idle (it exits when the queue is empty).
    func submit(_ s: Segment) {
        cond.lock()
        while queue.count >= ShardMaterializer.maxQueued { cond.wait() }
        queue.append(s)
        if !running {
            running = true
            let t = Thread { [self] in self.run() }
            t.name = "shard-files"
            t.start()
        }
        cond.unlock()
    }

    /// Waits until every queued segment is applied; throws the failure, if any.
    func drain() throws {
        cond.lock()
        while running { cond.wait() }
        let f = _failure
        cond.unlock()
        if let f { throw FlowError(f) }
    }

    private func run() {
        while true {
            cond.lock()
            guard let s = queue.first else {
                running = false
                cond.broadcast()
                cond.unlock()
                return
            }
            let failed = _failure != nil
            cond.unlock()
            let t0 = ShardLog.now()
            var problem: String?
            if !failed {
                do { try apply(s) } catch { problem = "\(error)" }
            }
            cond.lock()
            queue.removeFirst()
            if let problem, _failure == nil {
                _failure =
                    "cannot write shard files into \(outDir): \(problem); the journal and shard log are intact — free "
                    + "space (or fix the directory) and rerun with \(Setting.resume)"
            }
            if !failed && problem == nil {
                _stats.segments += 1
                _stats.files += 3 * s.entries.count
                _stats.seconds += ShardLog.now() - t0
            }
            cond.broadcast()
            cond.unlock()
        }
    }

    /// Writes a segment's files, makes them durable, removes the segment.
    private func apply(_ s: Segment) throws {
        for e in s.entries {
            for f in e.files(outDir: outDir) {
                try FileIO.writeFile(f.path, f.bytes, permissions: 0o600, durable: false)
            }
        }
        try ShardLog.syncFilesystem(containing: outDir + "/latents")
        unlink(s.path)
        FileIO.syncDirectory(of: s.path)
    }
}
