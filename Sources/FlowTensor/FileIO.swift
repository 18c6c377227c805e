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
    /// Opens a regular file for reading and returns its descriptor and size; the error names the path and the OS
    /// reason (missing, unreadable, a directory). The caller closes the descriptor.
    static func openRegular(_ path: String) throws -> (fd: Int32, size: Int) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FlowError("\(path): cannot open (\(String(cString: strerror(errno))))") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw FlowError("\(path): cannot stat (\(reason))")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw FlowError("\(path): is a directory, expected a file")
        }
        return (fd, Int(st.st_size))
    }

    /// Reads up to `count` bytes into `into`, retrying on EINTR; 0 at the end of the file.
    static func readSome(_ fd: Int32, _ into: UnsafeMutableRawPointer, _ count: Int, path: String) throws -> Int {
        while true {
            let n = Glibc.read(fd, into, count)
            if n >= 0 { return n }
            if errno != EINTR { throw FlowError("\(path): read failed (\(String(cString: strerror(errno))))") }
        }
    }

    /// Reads a whole file; the error names the path and the OS reason.
    public static func read(_ path: String) throws -> [UInt8] {
        let (fd, size) = try openRegular(path)
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: size)
        var done = 0
        try out.withUnsafeMutableBytes { raw in
            while done < size {
                let n = try readSome(fd, raw.baseAddress! + done, size - done, path: path)
                if n == 0 { break }
                done += n
            }
        }
        if done < size { out.removeLast(size - done) }
        return out
    }

    /// Streams a file through `body` in pieces of at most `chunkBytes` (bounded memory for large files).
    public static func forEachChunk(
        _ path: String, chunkBytes: Int, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let (fd, _) = try openRegular(path)
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let n = try readSome(fd, buffer.baseAddress!, chunkBytes, path: path)
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
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
