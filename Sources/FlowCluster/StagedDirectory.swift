import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A directory built under a temp name and renamed into place only when complete, so an export that fails
/// leaves nothing behind and a reader never sees half a folder.
///
/// Files are written in `DIR.tmp-PID/` and fsynced one by one (`write`), each directory is fsynced on
/// `commit`, which then renames the temp directory to `DIR` (which must not exist, or be empty) and fsyncs
/// the parent. `discard` removes the temp directory.
public final class StagedDirectory {
    public let path: String
    public let tmp: String
    var directories: [String] = []

    /// Refuses a `path` that exists and is not an empty directory; creates the temp directory.
    public init(path: String) throws {
        let trimmed = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        self.path = trimmed
        self.tmp = trimmed + ".tmp-\(getpid())"
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: trimmed, isDirectory: &isDir) {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: trimmed)) ?? ["?"]
            guard isDir.boolValue, entries.isEmpty else {
                throw FlowError(
                    "\(trimmed) already exists and is not an empty directory; remove it or choose "
                        + "another output directory")
            }
        }
        try? FileManager.default.removeItem(atPath: tmp)
        try makeDirectory("")
    }

    /// Creates `relative` (one level) inside the temp directory.
    public func makeDirectory(_ relative: String) throws {
        let d = relative.isEmpty ? tmp : tmp + "/" + relative
        guard mkdir(d, 0o755) == 0 || errno == EEXIST else {
            throw FlowError(
                "\(d): cannot create (\(String(cString: strerror(errno)))); check the parent "
                    + "directory exists and is writable")
        }
        directories.append(d)
    }

    /// Writes and fsyncs `relative` inside the temp directory.
    public func write(_ relative: String, _ bytes: [UInt8]) throws {
        try FileIO.writeFile(tmp + "/" + relative, bytes, durable: true)
    }

    /// Fsyncs every directory, renames the temp directory to `path` and fsyncs the parent.
    public func commit() throws {
        for d in directories.reversed() {
            let dfd = open(d, O_RDONLY)
            if dfd >= 0 {
                _ = fsync(dfd)
                close(dfd)
            }
        }
        if FileIO.exists(path) { rmdir(path) }
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            discard()
            throw FlowError("\(path): rename from \(tmp) failed (\(reason)); remove \(path) and retry")
        }
        FileIO.syncDirectory(of: path)
    }

    /// Removes the temp directory and everything in it.
    public func discard() {
        try? FileManager.default.removeItem(atPath: tmp)
    }
}
