import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The run directory as a whole: which paths may hold a run, the exclusive lock a run holds on it,
/// and starting over (deleting only what the previous run itself wrote).
public enum RunDirectory {
    /// The run layout: names of the files a run writes, relative to its directory.
    public static let journalFile = "journal.log"
    public static let manifestFile = "manifest.json"
    public static let reportJSONFile = "report.json"
    public static let reportMarkdownFile = "report.md"
    public static let samplesNPZFile = "samples.npz"
    public static let endpointsFile = "endpoints.json"
    public static let latentsDirectory = "latents"

    /// Files a run writes at the top of its directory (besides `latents/`).
    public static let topLevelFiles = [
        journalFile, manifestFile, reportJSONFile, reportMarkdownFile, samplesNPZFile,
        "latency.png", "throughput.png", "samples.png", endpointsFile,
        PromptIndex.fileName, RunMerge.partRecordFile,
    ]

    /// `<dir>/journal.log`: the authority on what the run has committed.
    public static func journalPath(_ dir: String) -> String { dir + "/" + journalFile }
    /// `<dir>/manifest.json`.
    public static func manifestPath(_ dir: String) -> String { dir + "/" + manifestFile }
    /// `<dir>/report.json`.
    public static func reportJSONPath(_ dir: String) -> String { dir + "/" + reportJSONFile }
    /// `<dir>/report.md`.
    public static func reportMarkdownPath(_ dir: String) -> String { dir + "/" + reportMarkdownFile }
    /// `<dir>/samples.npz`.
    public static func samplesNPZPath(_ dir: String) -> String { dir + "/" + samplesNPZFile }
    /// `<dir>/endpoints.json`.
    public static func endpointsPath(_ dir: String) -> String { dir + "/" + endpointsFile }
    /// `<dir>/prompts.jsonl` (prompt runs).
    public static func promptsPath(_ dir: String) -> String { dir + "/" + PromptIndex.fileName }
    /// `<dir>/latents`.
    public static func latentsPath(_ dir: String) -> String { dir + "/" + latentsDirectory }

    /// Records the bound ports and this process id in `<dir>/endpoints.json` (mode 0600: other users do not learn the
    /// ports); tests and scripts read it to find a running coordinator.
    public static func writeEndpoints(_ dir: String, control: Int, data: Int) throws {
        let text = "{\"control_port\": \(control), \"data_port\": \(data), \"pid\": \(getpid())}\n"
        try PrivateFiles.write(endpointsPath(dir), Array(text.utf8))
    }
    /// Name of the lock file inside the run directory.
    public static let lockFile = "run.lock"

    /// Refuses a run directory that is empty or would put a run's files (and a later overwrite's
    /// deletions) into the filesystem root, a top-level system directory or the home directory.
    public static func checkOut(_ path: String, name: FlowError.Message = "\(Setting.out)") throws {
        guard !path.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw FlowError(
                "\(name) is empty: a run directory is required (e.g. runs/latest); an empty path "
                    + "would write into /")
        }
        guard !path.contains("\0"), !path.contains("\n") else {
            throw FlowError("\(name) contains a NUL or newline character; choose a plain directory name")
        }
        let resolved = normalize(path)
        let home = ProcessInfo.processInfo.environment["HOME"].map(normalize)
        let depth = resolved.split(separator: "/").count
        guard depth >= 2, resolved != home else {
            throw FlowError(
                "\(name) \(path) resolves to \(resolved), which is not a run directory (it would "
                    + "scatter run files there and \(.overwrite) would delete in it); use a subdirectory such as runs/latest"
            )
        }
    }

    /// Absolute path with `.`, `..` and duplicate slashes removed (symlinks resolved where the path exists).
    static func normalize(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        let abs = path.hasPrefix("/") ? path : cwd + "/" + path
        var parts: [Substring] = []
        for p in abs.split(separator: "/") {
            if p == "." { continue }
            if p == ".." {
                _ = parts.popLast()
                continue
            }
            parts.append(p)
        }
        let lexical = "/" + parts.joined(separator: "/")
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        if realpath(lexical, &buf) != nil { return String(cString: buf) }
        return lexical
    }

    /// Open lock files (held until the process exits; `O_CLOEXEC` keeps worker processes from inheriting them).
    nonisolated(unsafe) private static var held: [String: Int32] = [:]

    /// Creates the directory if needed and takes an exclusive lock on it for the rest of this process,
    /// so two runs never share one directory. Fails at once (no waiting) if another process holds it.
    public static func lock(_ dir: String) throws {
        try FileIO.makeDirectories(dir)
        let path = dir + "/" + lockFile
        if held[normalize(path)] != nil { return }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FlowError("\(path): cannot create the run lock (\(String(cString: strerror(errno))))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            close(fd)
            if busy {
                throw FlowError(
                    "\(dir) is in use by another run (\(path) is locked); "
                        + "wait for it to finish or choose another directory")
            }
            throw FlowError("\(path): cannot lock (\(reason))")
        }
        held[normalize(path)] = fd
    }

    /// True when another process holds the directory's lock (a run is writing there now).
    public static func isLockedByOther(_ dir: String) -> Bool {
        let path = dir + "/" + lockFile
        if held[normalize(path)] != nil { return false }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    /// Deletes the previous run in `dir`: its top-level output files and the shard files its manifest and
    /// journal name (only the canonical `latents/shard-NNNNNN.*` of each listed shard id, so a tampered
    /// record cannot point anywhere else). Anything else in the directory is left alone.
    /// Returns the number of files removed.
    @discardableResult
    public static func removeRun(_ dir: String) -> Int {
        guard FileIO.exists(journalPath(dir)) || FileIO.exists(manifestPath(dir)) else { return 0 }
        var shards = Set<Int>()
        if let (_, commits, _, _) = try? Journal.read(journalPath(dir)) {
            for c in commits where c.shard >= 0 { shards.insert(c.shard) }
        }
        if let data = FileManager.default.contents(atPath: manifestPath(dir)),
            let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let list = obj["shards"] as? [[String: Any]]
        {
            for s in list {
                guard let id = s["shard"] as? Int, id >= 0,
                    s["file"] as? String == Aggregator.latentsFile(shard: id)
                else { continue }
                shards.insert(id)
            }
        }
        var removed = 0
        for id in shards.sorted() {
            let base = String(Aggregator.latentsFile(shard: id).dropLast(4))
            for suffix in [".npy", ".labels.npy", ".json"] where unlink(dir + "/" + base + suffix) == 0 { removed += 1 }
        }
        for log in ShardLog.segments(outDir: dir) where unlink(log) == 0 { removed += 1 }
        rmdir(latentsPath(dir))  // only if now empty
        for name in topLevelFiles where unlink(dir + "/" + name) == 0 { removed += 1 }
        return removed
    }
}
