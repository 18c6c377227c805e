#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Whole-file reads and crash-safe writes.
///
/// Writes go to a temporary file in the same directory, are flushed (optionally fsynced, with
/// the directory), and are renamed over the destination, so a reader never sees a half-written
/// file and a failed write leaves the previous contents intact.
public enum FileIO {
    /// Reads a whole file; the error names the path and the OS reason.
    public static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FlowError("\(path): cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FlowError("\(path): cannot stat (\(String(cString: strerror(errno))))") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw FlowError("\(path): is a directory, expected a file") }
        let size = Int(st.st_size)
        var out = [UInt8](repeating: 0, count: size)
        var done = 0
        try out.withUnsafeMutableBytes { raw in
            while done < size {
                let n = Glibc.read(fd, raw.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FlowError("\(path): read failed (\(String(cString: strerror(errno))))")
                }
                if n == 0 { break }
                done += n
            }
        }
        if done < size { out.removeLast(size - done) }
        return out
    }

    /// fsyncs the directory holding `path`, so a rename into it is durable.
    public static func syncDirectory(of path: String) {
        let dir: String
        if let slash = path.lastIndex(of: "/") {
            dir = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            dir = "."
        }
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Creates a directory and its parents; succeeds if it exists.
    public static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw FlowError("\(prefix): cannot create directory (\(String(cString: strerror(errno))))")
            }
            prefix += "/"
        }
    }

    /// True when a file or directory exists at `path`.
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
