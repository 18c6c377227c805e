import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Everything that defines a run's output bytes; `--resume` refuses a journal whose header differs.
public struct RunHeader: Codable, Equatable {
    /// Journal format version.
    public var version: Int = 1
    public var evalSetId: String
    public var samples: Int
    public var classes: Int
    public var labelMode: String
    public var seed: UInt64
    public var plan: String
    public var guidanceScale: Float
    /// 0 = all channels.
    public var guidanceChannels: Int
    public var batch: Int
    public var shardSize: Int
    /// "role=spec@digest" for the predictor, the (optional) refiner and a prompt run's text encoder.
    public var models: [String]
    /// Shape of R steps when not the default "heun" (nil = heun, so journals written before this field resume).
    public var refinerStep: String?
    /// Images per prompt K of a prompt run when not 1 (nil = 1, so journals written before this field resume).
    public var imagesPerPrompt: Int?
    /// "I/N" of a coordinator-free part run (`RunPart`); nil for a whole run (and for a merged one).
    public var part: String?

    /// Creates a header from the run parameters.
    public init(
        evalSetId: String, samples: Int, classes: Int, labelMode: String, seed: UInt64, plan: String,
        guidanceScale: Float, guidanceChannels: Int, batch: Int, shardSize: Int, models: [String],
        refinerStep: String? = nil, imagesPerPrompt: Int? = nil, part: String? = nil
    ) {
        self.evalSetId = evalSetId
        self.samples = samples
        self.classes = classes
        self.labelMode = labelMode
        self.seed = seed
        self.plan = plan
        self.guidanceScale = guidanceScale
        self.guidanceChannels = guidanceChannels
        self.batch = batch
        self.shardSize = shardSize
        self.models = models
        self.refinerStep = refinerStep
        self.imagesPerPrompt = imagesPerPrompt
        self.part = part
    }

    /// Names the first field that differs from `other` (for the resume error), nil if equal.
    public func firstDifference(from other: RunHeader) -> String? {
        // The eval-set id is derived from other fields; name it only if nothing more specific differs.
        let a = Mirror(reflecting: self).children
        let b = Mirror(reflecting: other).children
        var diffs: [String] = []
        for (x, y) in zip(a, b) where "\(x.value)" != "\(y.value)" {
            diffs.append("\(x.label ?? "?"): journal has \(y.value), this run has \(x.value)")
        }
        return diffs.first { !$0.hasPrefix("evalSetId") } ?? diffs.first
    }
}

/// One durably written shard, as recorded in the journal.
public struct ShardCommit: Codable, Equatable {
    public var shard: Int
    public var first: Int
    public var count: Int
    /// Path of the latents file relative to the run directory.
    public var file: String
    /// CRC-32 (hex) of the latents file bytes.
    public var checksum: String
    public var worker: String

    /// Creates a commit record.
    public init(shard: Int, first: Int, count: Int, file: String, checksum: String, worker: String) {
        self.shard = shard
        self.first = first
        self.count = count
        self.file = file
        self.checksum = checksum
        self.worker = worker
    }
}

/// Append-only run journal: one line per record, `JSON<TAB>crc32hex\n`, fsynced on every append.
///
/// The first record is the `RunHeader`; each later record is a `ShardCommit`. A torn or corrupt
/// last record (crash mid-append) is ignored and truncated on resume; corruption before the last
/// record is refused (the file was edited or the disk is failing).
public final class Journal {
    /// Path of the journal file.
    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Starts a new journal with `header`; refuses to overwrite an existing one.
    public static func create(_ path: String, header: RunHeader) throws -> Journal {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0o644)
        guard fd >= 0 else {
            if errno == EEXIST {
                throw FlowError(
                    "\(path) exists: this directory holds a run; pass \(.resume) to continue it, \(.overwrite) to start over, or choose another \(.out)"
                )
            }
            throw FlowError("\(path): cannot create journal (\(String(cString: strerror(errno))))")
        }
        let j = Journal(path: path, fd: fd)
        try j.appendRecord(try encode(header))
        FileIO.syncDirectory(of: path)
        return j
    }

    /// Reads a journal: header, commits, and the byte length of the valid prefix.
    public static func read(
        _ path: String
    ) throws -> (header: RunHeader, commits: [ShardCommit], validLength: Int, fileLength: Int) {
        let bytes = try FileIO.read(path)
        var records: [[UInt8]] = []
        var start = 0
        var valid = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0A {
                let line = Array(bytes[start..<i])
                if let payload = verify(line) {
                    records.append(payload)
                    valid = i + 1
                } else {
                    // A bad record is only tolerated as the last one (torn write).
                    if i + 1 < bytes.count {
                        throw FlowError(
                            "\(path): corrupt record at byte \(start) before the end; the journal was modified — start a new run in another \(.out)"
                        )
                    }
                    break
                }
                start = i + 1
            }
            i += 1
        }
        guard let first = records.first else {
            throw FlowError("\(path): no valid run header; delete the directory and start a new run")
        }
        let dec = JSONDecoder()
        guard let header = try? dec.decode(RunHeader.self, from: Data(first)) else {
            throw FlowError("\(path): first record is not a run header; start a new run in another \(.out)")
        }
        var commits: [ShardCommit] = []
        for r in records.dropFirst() {
            guard let c = try? dec.decode(ShardCommit.self, from: Data(r)) else {
                throw FlowError("\(path): unreadable commit record; start a new run in another \(.out)")
            }
            commits.append(c)
        }
        return (header, commits, valid, bytes.count)
    }

    /// Reopens a journal to continue a run: checks the header equals `expected` (clear error naming
    /// the differing parameter otherwise), truncates a torn last record, returns the commits.
    public static func resume(_ path: String, expected: RunHeader) throws -> (Journal, [ShardCommit]) {
        guard FileIO.exists(path) else {
            throw FlowError("\(path): no journal to resume; run without \(.resume) to start")
        }
        let (header, commits, valid, length) = try read(path)
        if let diff = expected.firstDifference(from: header) {
            throw FlowError(
                "\(.resume): configuration differs from the journal (\(diff)); rerun with the original flags or use another \(.out)"
            )
        }
        let fd = open(path, O_WRONLY | O_APPEND)
        guard fd >= 0 else { throw FlowError("\(path): cannot open for append (\(String(cString: strerror(errno))))") }
        if valid < length {
            guard ftruncate(fd, off_t(valid)) == 0, fsync(fd) == 0 else {
                Glibc.close(fd)
                throw FlowError("\(path): cannot truncate the torn last record (\(String(cString: strerror(errno))))")
            }
        }
        return (Journal(path: path, fd: fd), commits)
    }

    /// Replaces the journal atomically (temp file, fsync, rename, directory fsync) with `header` and `commits`:
    /// how a resume forgets commits whose files are gone or damaged, so they are computed again.
    public static func rewrite(_ path: String, header: RunHeader, commits: [ShardCommit]) throws {
        var bytes: [UInt8] = []
        for payload in try [encode(header)] + commits.map({ try encode($0) }) {
            bytes += payload + [0x09] + Array(CRC32.hex(payload).utf8) + [0x0A]
        }
        try FileIO.writeAtomically(path, bytes, durable: true)
    }

    /// Appends a commit record and fsyncs it.
    public func append(_ commit: ShardCommit) throws { try append(contentsOf: [commit]) }

    /// Appends several commit records with one write and one fsync (group commit).
    public func append(contentsOf commits: [ShardCommit]) throws {
        guard !commits.isEmpty else { return }
        var lines: [UInt8] = []
        for c in commits {
            let payload = try Journal.encode(c)
            lines += payload + [0x09] + Array(CRC32.hex(payload).utf8) + [0x0A]
        }
        try writeSynced(lines)
    }

    /// Closes the file (appends after this fail).
    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    private static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return Array(try enc.encode(value))
    }

    private static func verify(_ line: [UInt8]) -> [UInt8]? {
        guard let tab = line.lastIndex(of: 0x09), line.count - tab - 1 == 8 else { return nil }
        let payload = Array(line[..<tab])
        let crc = String(decoding: line[(tab + 1)...], as: UTF8.self)
        return CRC32.hex(payload) == crc ? payload : nil
    }

    private func appendRecord(_ payload: [UInt8]) throws {
        try writeSynced(payload + [0x09] + Array(CRC32.hex(payload).utf8) + [0x0A])
    }

    private func writeSynced(_ line: [UInt8]) throws {
        guard fd >= 0 else { throw FlowError("\(path): journal is closed") }
        var done = 0
        while done < line.count {
            let n = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, line.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FlowError(
                    "\(path): journal append failed (\(String(cString: strerror(errno)))); free space and \(.resume)")
            }
            done += n
        }
        if fdatasync(fd) != 0 { throw FlowError("\(path): journal fsync failed (\(String(cString: strerror(errno))))") }
    }
}
