import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Write-ahead log of shard files: how the aggregator makes a whole batch of shards durable with one fsync.
///
/// Each record holds one shard's three files (latents, labels, timings JSON) exactly as they are written under
/// `latents/`. The aggregator appends a batch's records with one `write` and one `fdatasync`, then writes the
/// shard files without fsyncing them, then reports the batch to the coordinator, whose journal line is the commit
/// point. A journaled shard is therefore always recoverable: its files, or its record here. At a checkpoint (the
/// log passed `checkpointBytes`, and when the aggregator stops) one `syncfs` makes every shard file durable and
/// the log is emptied; a finished or interrupted run has no log left. After a crash `recover` rewrites the files
/// of journaled shards from their records (matching the journaled checksum) before anything reads them.
///
/// Record: `"FTW1"`, shard (u64), latents, labels and JSON byte counts (u64 each), the three payloads, CRC-32 of
/// everything before it (u32); all integers little-endian. A torn last record (crash mid-append) is ignored.
public final class ShardLog {
    /// One shard's files.
    public struct Entry: Equatable {
        public var shard: Int
        public var latents: [UInt8]
        public var labels: [UInt8]
        public var json: [UInt8]

        /// Creates an entry.
        public init(shard: Int, latents: [UInt8], labels: [UInt8], json: [UInt8]) {
            self.shard = shard
            self.latents = latents
            self.labels = labels
            self.json = json
        }
    }

    /// Log size after which the next batch is followed by a checkpoint.
    public static let checkpointBytes = 64 << 20
    static let magic: [UInt8] = Array("FTW1".utf8)
    static let headerBytes = 4 + 8 * 4

    /// Path of the log in a run directory.
    public static func path(outDir: String) -> String { outDir + "/latents/shards.wal" }

    private let path: String
    private var fd: Int32 = -1
    private(set) var size = 0

    /// A log for `outDir` (opened on the first append).
    public init(outDir: String) { path = ShardLog.path(outDir: outDir) }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// The bytes of one record.
    static func encode(_ e: Entry) -> [UInt8] {
        var r = magic
        for v in [e.shard, e.latents.count, e.labels.count, e.json.count] {
            withUnsafeBytes(of: UInt64(v).littleEndian) { r += $0 }
        }
        r += e.latents
        r += e.labels
        r += e.json
        withUnsafeBytes(of: CRC32.checksum(r).littleEndian) { r += $0 }
        return r
    }

    /// Every intact record of a log file, in order (reading stops at the first torn or corrupt record).
    static func decode(_ bytes: [UInt8]) -> [Entry] {
        var out: [Entry] = []
        var at = 0
        func u64(_ i: Int) -> Int? {
            var v: UInt64 = 0
            for k in 0..<8 { v |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
            return v <= UInt64(Int32.max) * 64 ? Int(v) : nil
        }
        while at + headerBytes + 4 <= bytes.count, Array(bytes[at..<(at + 4)]) == magic {
            guard let shard = u64(at + 4), let a = u64(at + 12), let b = u64(at + 20), let c = u64(at + 28) else {
                break
            }
            let end = at + headerBytes + a + b + c
            guard end + 4 <= bytes.count else { break }
            var crc: UInt32 = 0
            for k in 0..<4 { crc |= UInt32(bytes[end + k]) << (8 * UInt32(k)) }
            let ok = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[at..<end])) == crc }
            guard ok else { break }
            let p = at + headerBytes
            out.append(
                Entry(
                    shard: shard, latents: Array(bytes[p..<(p + a)]), labels: Array(bytes[(p + a)..<(p + a + b)]),
                    json: Array(bytes[(p + a + b)..<end])))
            at = end + 4
        }
        return out
    }

    /// Appends `entries` with one write and one `fdatasync`; afterwards they survive power loss.
    public func append(_ entries: [Entry]) throws {
        guard !entries.isEmpty else { return }
        if fd < 0 {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o600)
            guard fd >= 0 else { throw FlowError("\(path): cannot create (\(String(cString: strerror(errno))))") }
            fchmod(fd, 0o600)
            FileIO.syncDirectory(of: path)
            size = 0
        }
        var bytes: [UInt8] = []
        for e in entries { bytes += ShardLog.encode(e) }
        try ShardLog.writeAll(fd, bytes, path: path)
        guard fdatasync(fd) == 0 else {
            throw FlowError("\(path): fdatasync failed (\(String(cString: strerror(errno))))")
        }
        size += bytes.count
    }

    /// Makes every file written so far durable (one `syncfs`) and removes the log.
    public func checkpoint() throws {
        guard fd >= 0 else { return }
        guard ShardLog.syncFilesystem(fd) == 0 else {
            throw FlowError("\(path): syncfs failed (\(String(cString: strerror(errno))))")
        }
        Glibc.close(fd)
        fd = -1
        size = 0
        unlink(path)
        FileIO.syncDirectory(of: path)
    }

    /// `syncfs(2)` of the filesystem holding `fd` (looked up at run time: glibc declares it only with _GNU_SOURCE);
    /// `sync(2)` where it is missing.
    static func syncFilesystem(_ fd: Int32) -> Int32 {
        typealias SyncFS = @convention(c) (Int32) -> Int32
        guard let sym = dlsym(nil, "syncfs") else {
            sync()
            return 0
        }
        return unsafeBitCast(sym, to: SyncFS.self)(fd)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FlowError(
                    "\(path): write failed (\(String(cString: strerror(errno)))); free space and \(.resume)")
            }
            done += n
        }
    }

    /// After a crash: rewrites (durably) the files of every journaled shard whose log record matches the journaled
    /// checksum but whose files on disk differ, then removes the log. Records of shards without a journal line were
    /// never committed and are dropped (those shards are computed again). Returns the shards restored.
    @discardableResult
    public static func recover(outDir: String) throws -> [Int] {
        let logPath = path(outDir: outDir)
        guard FileIO.exists(logPath) else { return [] }
        let (_, commits, _, _) = try Journal.read(outDir + "/journal.log")
        let want = Dictionary(commits.map { ($0.shard, $0.checksum) }, uniquingKeysWith: { a, _ in a })
        var latest: [Int: Entry] = [:]
        for e in decode(try FileIO.read(logPath)) where want[e.shard] == CRC32.hex(e.latents) { latest[e.shard] = e }
        var restored: [Int] = []
        for (shard, e) in latest.sorted(by: { $0.key < $1.key }) {
            let base = outDir + "/" + String(Aggregator.latentsFile(shard: shard).dropLast(4))
            let files = [(".npy", e.latents), (".labels.npy", e.labels), (".json", e.json)]
            guard files.contains(where: { (try? FileIO.read(base + $0.0)) != $0.1 }) else { continue }
            for (suffix, bytes) in files { try PrivateFiles.replace(base + suffix, bytes, sync: true) }
            restored.append(shard)
        }
        if !restored.isEmpty { FileIO.syncDirectory(of: logPath) }
        let dfd = open(outDir, O_RDONLY)
        if dfd >= 0 {
            _ = syncFilesystem(dfd)
            Glibc.close(dfd)
        }
        unlink(logPath)
        FileIO.syncDirectory(of: logPath)
        return restored
    }
}
