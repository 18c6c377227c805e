import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Write-ahead log of shard files: how the aggregator makes a whole batch of shards durable with one fsync, and
/// the only place a shard's bytes are written on the commit path.
///
/// Each record holds one shard's three files (latents, labels, timings JSON) exactly as they appear under
/// `latents/`. The aggregator appends a batch's records to the open segment `latents/shards.wal` with one `write`
/// and one `fdatasync`, then reports the batch to the coordinator, whose journal line is the commit point: a
/// journaled shard is always in the log or in its files. The shard files themselves are not written on that path
/// (three file creations cost ~240 µs on this VM's ext4, more than everything else a commit does): once the open
/// segment holds `segmentBytes` or is `segmentSeconds` old it is sealed (renamed `latents/shards-NNNNNN.wal`) and
/// handed to a `ShardMaterializer` thread, which writes its shard files, makes them durable with one `syncfs` and
/// deletes the segment. `checkpoint()` (when the aggregator stops) seals and waits for every segment, so a
/// finished or interrupted run has all its files and no log. After a crash `recover` rewrites the files of
/// journaled shards from the segments (matching the journaled checksum) before anything reads them.
///
/// Record: `"FTW1"`, shard (u64), latents, labels and JSON byte counts (u64 each), the three payloads, CRC-32 of
/// everything before it (u32); all integers little-endian. A torn last record (crash mid-append) is ignored.
public final class ShardLog {
    /// One shard's files.
    public struct Entry: Equatable, Sendable {
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

        /// Where each of the three files goes in run directory `outDir`, with its bytes.
        func files(outDir: String) -> [(path: String, bytes: [UInt8])] {
            let base = outDir + "/" + String(Aggregator.latentsFile(shard: shard).dropLast(4))
            return [(base + ".npy", latents), (base + ".labels.npy", labels), (base + ".json", json)]
        }
    }

    /// An open segment is sealed and its files written once it holds this many bytes…
    public static let segmentBytes = 16 << 20
    /// … or is this old (so files appear within seconds during a long run; the aggregator also seals an idle
    /// segment this old, `sealIfOld`).
    public static let segmentSeconds = 2.0
    static let magic: [UInt8] = Array("FTW1".utf8)
    static let headerBytes = 4 + 8 * 4

    /// Path of the open segment in a run directory.
    public static func path(outDir: String) -> String { outDir + "/latents/shards.wal" }

    /// Paths of every log segment in a run directory, oldest first (sealed segments by number, then the open one).
    public static func segments(outDir: String) -> [String] {
        let dir = outDir + "/latents"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let sealed = names.compactMap { sealedNumber($0) }.sorted().map { dir + "/" + sealedName($0) }
        return sealed + (FileIO.exists(path(outDir: outDir)) ? [path(outDir: outDir)] : [])
    }

    static func sealedName(_ n: Int) -> String {
        let s = String(n)
        return "shards-" + String(repeating: "0", count: max(0, 6 - s.count)) + s + ".wal"
    }

    static func sealedNumber(_ name: String) -> Int? {
        guard name.hasPrefix("shards-"), name.hasSuffix(".wal") else { return nil }
        return Int(name.dropFirst(7).dropLast(4))
    }

    private let outDir: String
    private let path: String
    private var fd: Int32 = -1
    private(set) var size = 0
    /// Records of the open segment (handed to the materializer when it is sealed).
    private var open: [Entry] = []
    private var openedAt = 0.0
    private var sealed = 0
    let materializer: ShardMaterializer

    /// A log for `outDir` (the open segment is created on the first append).
    public init(outDir: String) {
        self.outDir = outDir
        path = ShardLog.path(outDir: outDir)
        materializer = ShardMaterializer(outDir: outDir)
        sealed =
            ShardLog.segments(outDir: outDir).compactMap { ShardLog.sealedNumber(($0 as NSString).lastPathComponent) }
            .max() ?? 0
        // An open segment left by another log object is sealed, never truncated (`recover` applies it).
        if FileIO.exists(path) {
            sealed += 1
            rename(path, outDir + "/latents/" + ShardLog.sealedName(sealed))
        }
    }

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

    /// Appends `entries` with one write and one `fdatasync`; afterwards they survive power loss. Seals the segment
    /// when it is full or old (blocking only while the materializer is two segments behind).
    public func append(_ entries: [Entry]) throws {
        guard !entries.isEmpty else { return }
        if let failure = materializer.failure { throw FlowError(failure) }
        if fd < 0 {
            fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o600)
            guard fd >= 0 else { throw FlowError("\(path): cannot create (\(String(cString: strerror(errno))))") }
            fchmod(fd, 0o600)
            FileIO.syncDirectory(of: path)
            size = 0
            openedAt = ShardLog.now()
        }
        var bytes: [UInt8] = []
        for e in entries { bytes += ShardLog.encode(e) }
        try ShardLog.writeAll(fd, bytes, path: path)
        guard fdatasync(fd) == 0 else {
            throw FlowError("\(path): fdatasync failed (\(String(cString: strerror(errno))))")
        }
        size += bytes.count
        open += entries
        if size >= ShardLog.segmentBytes { try seal() } else { try sealIfOld() }
    }

    /// Seals the open segment when it is at least `maxAge` seconds old (returns whether it did).
    @discardableResult
    func sealIfOld(maxAge: Double = ShardLog.segmentSeconds) throws -> Bool {
        guard fd >= 0, ShardLog.now() - openedAt >= maxAge else { return false }
        try seal()
        return true
    }

    /// Closes the open segment under its sealed name and queues its files for the materializer.
    func seal() throws {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
        sealed += 1
        let target = outDir + "/latents/" + ShardLog.sealedName(sealed)
        guard rename(path, target) == 0 else {
            throw FlowError("\(path): cannot seal (\(String(cString: strerror(errno))))")
        }
        materializer.submit(ShardMaterializer.Segment(path: target, entries: open))
        open = []
        size = 0
    }

    /// Seals the open segment and waits until every segment's files are written and durable and the segments are
    /// removed (throws the materializer's failure: the segments it could not apply are kept for `recover`).
    public func checkpoint() throws {
        try seal()
        try materializer.drain()
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

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

    /// `syncfs` of the filesystem holding `path` (a directory).
    static func syncFilesystem(containing path: String) throws {
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw FlowError("\(path): cannot open (\(String(cString: strerror(errno))))") }
        defer { Glibc.close(fd) }
        guard syncFilesystem(fd) == 0 else { throw FlowError("syncfs failed (\(String(cString: strerror(errno))))") }
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

    /// Every intact record of every log segment of `outDir`, oldest first, each segment read by `read`.
    static func records(outDir: String, read: (String) throws -> [UInt8] = FileIO.read) rethrows -> [Entry] {
        try segments(outDir: outDir).flatMap { decode(try read($0)) }
    }

    /// CRC-32 (hex) of the latents of every shard in the log segments of `outDir` (the latest record wins).
    public static func loggedChecksums(outDir: String) -> [Int: String] {
        var out: [Int: String] = [:]
        for e in records(outDir: outDir, read: { (try? FileIO.read($0)) ?? [] }) { out[e.shard] = CRC32.hex(e.latents) }
        return out
    }

    /// After a crash: rewrites (durably) the files of every journaled shard whose record (in any segment, the
    /// latest wins) matches the journaled checksum but whose files on disk differ, then removes the segments.
    /// Records of shards without a journal line were never committed and are dropped (those shards are computed
    /// again). Returns the shards restored.
    @discardableResult
    public static func recover(outDir: String) throws -> [Int] {
        let logs = segments(outDir: outDir)
        guard !logs.isEmpty else { return [] }
        let (_, commits, _, _) = try Journal.read(outDir + "/journal.log")
        let want = Dictionary(commits.map { ($0.shard, $0.checksum) }, uniquingKeysWith: { a, _ in a })
        var latest: [Int: Entry] = [:]
        for e in try records(outDir: outDir) where want[e.shard] == CRC32.hex(e.latents) { latest[e.shard] = e }
        var restored: [Int] = []
        for (shard, e) in latest.sorted(by: { $0.key < $1.key }) {
            let files = e.files(outDir: outDir)
            guard files.contains(where: { (try? FileIO.read($0.path)) != $0.bytes }) else { continue }
            for f in files { try PrivateFiles.replace(f.path, f.bytes, sync: true) }
            restored.append(shard)
        }
        if !restored.isEmpty { FileIO.syncDirectory(of: logs[0]) }
        try? syncFilesystem(containing: outDir)
        for log in logs { unlink(log) }
        FileIO.syncDirectory(of: logs[0])
        return restored
    }
}
