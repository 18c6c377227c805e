#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one write path of every file writer (the journal's appends aside): create, write all, fsync, rename, fsync
/// the directory. Errors name the path, the OS reason and what was (not) replaced.
extension FileIO {
    /// Writes `bytes` to `path` atomically (temp file + rename). With `durable`, fsyncs the file and its directory
    /// so the data survives a crash once this returns. `permissions` nil: 0644 less the umask; else exactly those.
    public static func writeAtomically(
        _ path: String, _ bytes: [UInt8], durable: Bool = false,
        permissions: mode_t? = nil
    ) throws {
        try bytes.withUnsafeBytes {
            try writeAtomically(path, UnsafeRawBufferPointer($0), durable: durable, permissions: permissions)
        }
    }

    /// Raw-buffer form of `writeAtomically(_:_:durable:permissions:)`; `syncDirectory` false leaves the directory
    /// fsync to a caller that renames several files into one directory.
    public static func writeAtomically(
        _ path: String, _ bytes: UnsafeRawBufferPointer, durable: Bool = false,
        permissions: mode_t? = nil, syncDirectory: Bool? = nil
    ) throws {
        let tmp = path + ".tmp-\(getpid())"
        let fd = try create(tmp, permissions: permissions, reportedAs: path)
        do {
            try writeAll(fd, bytes, path: path)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        try commit(fd: fd, temp: tmp, to: path, sync: durable, syncDirectory: syncDirectory ?? durable)
    }

    /// Creates `path` in place (no temp file) and writes `bytes`; with `durable`, fsyncs it before closing.
    /// `exclusive` refuses an existing file (O_EXCL). For files inside a staged directory and new key files.
    public static func writeFile(
        _ path: String, _ bytes: [UInt8], permissions: mode_t? = nil, exclusive: Bool = false,
        durable: Bool
    ) throws {
        let fd = try create(path, permissions: permissions, exclusive: exclusive, reportedAs: path)
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        if durable && fsync(fd) != 0 { throw FlowError("\(path): fsync failed (\(reason()))") }
    }

    /// Opens `path` for writing (created or truncated). `permissions` nil: 0644 less the umask; else exactly those
    /// bits, whatever the umask. Errors name `reportedAs` (the destination when `path` is its temp file).
    public static func create(
        _ path: String, permissions: mode_t? = nil, exclusive: Bool = false,
        reportedAs: String? = nil
    ) throws -> Int32 {
        let flags = O_WRONLY | O_CREAT | (exclusive ? O_EXCL : O_TRUNC)
        let fd = open(path, flags, permissions ?? 0o644)
        guard fd >= 0 else {
            throw FlowError(
                "\(reportedAs ?? path): cannot create (\(reason())); check the directory exists and is writable")
        }
        if let p = permissions { fchmod(fd, p) }
        return fd
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR; the error names `path`.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = write(fd, base + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw FlowError("\(path): write failed (\(reason())); nothing was replaced — free space and retry")
            }
            done += n
        }
    }

    /// The commit of an atomic write: fsyncs (`sync`) and closes `fd` (the written `temp` file), renames it over
    /// `path` and fsyncs the directory (`syncDirectory`). On failure `temp` is removed and `path` left as it was.
    public static func commit(fd: Int32, temp: String, to path: String, sync: Bool, syncDirectory: Bool) throws {
        if sync && fsync(fd) != 0 {
            let r = reason()
            close(fd)
            unlink(temp)
            throw FlowError("\(path): fsync failed (\(r)); nothing was replaced")
        }
        if close(fd) != 0 {
            let r = reason()
            unlink(temp)
            throw FlowError("\(path): close failed (\(r)); nothing was replaced")
        }
        if rename(temp, path) != 0 {
            let r = reason()
            unlink(temp)
            throw FlowError("\(path): rename failed (\(r)); check the destination is writable")
        }
        if syncDirectory { self.syncDirectory(of: path) }
    }

    /// The OS reason of the last failed call.
    static func reason() -> String { String(cString: strerror(errno)) }
}
