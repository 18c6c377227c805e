import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Run-directory files only their owner can read: directories 0700, files 0600, independent of the umask.
///
/// A run directory holds the ports of a live run (`endpoints.json`) and its results; another local user
/// must not find the ports nor read or replace the latents.
public enum PrivateFiles {
    /// Creates `path` and missing parents; the run directory itself (the last component) gets mode 0700,
    /// parents the usual 0755. An existing directory of this user is narrowed to 0700 when it is empty or
    /// already holds run files (journal, latents, endpoints, a lock); any other existing directory is left as it
    /// is (it may be a shared folder the user chose, such as /tmp).
    public static func makeDirectory(_ path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try FileIO.makeDirectories(parent) }
        if mkdir(path, 0o700) == 0 {
            chmod(path, 0o700)
            return
        }
        guard errno == EEXIST else {
            throw FlowError("\(path): cannot create directory (\(String(cString: strerror(errno))))")
        }
        var st = stat()
        guard stat(path, &st) == 0, st.st_uid == geteuid() else { return }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let runFiles: Set<String> = [
            RunDirectory.journalFile, RunDirectory.latentsDirectory, RunDirectory.endpointsFile,
        ]
        if entries.isEmpty || entries.contains(where: { runFiles.contains($0) || $0.hasSuffix(".lock") }) {
            chmod(path, 0o700)
        }
    }

    /// Creates a directory inside a run directory with mode 0700 (succeeds if it exists; parents are created
    /// like `makeDirectory` does).
    public static func makeSubdirectory(_ path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path && !FileIO.exists(parent) { try makeDirectory(parent) }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw FlowError("\(path): cannot create directory (\(String(cString: strerror(errno))))")
        }
        chmod(path, 0o700)
    }

    /// Writes `bytes` to a 0600 temp file, optionally fsyncs it, and renames it over `path` (no directory
    /// fsync: the caller does one for several files, or calls `write(_:_:)`).
    public static func replace(_ path: String, _ bytes: [UInt8], sync: Bool) throws {
        try bytes.withUnsafeBytes {
            try FileIO.writeAtomically(path, $0, durable: sync, permissions: 0o600, syncDirectory: false)
        }
    }

    /// Durable private write: 0600 temp file, fsync, rename, directory fsync.
    public static func write(_ path: String, _ bytes: [UInt8]) throws {
        try FileIO.writeAtomically(path, bytes, durable: true, permissions: 0o600)
    }

    /// Permission bits of a file (for tests and checks); nil if it does not exist.
    public static func mode(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o777 : nil
    }
}
