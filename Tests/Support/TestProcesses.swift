import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Test helpers every test target shares: the built `flowturbo` binary, fresh temporary directories and free
/// loopback ports (one copy here instead of one per target).
public enum TestEnvironment {
    /// The `flowturbo` executable in the products directory (next to the test bundle), if it was built.
    public static var binary: String? {
        binaryCandidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Where the binary is looked for, most likely first: next to the running test executable, then next to the
    /// main bundle and in its parent directory.
    public static var binaryCandidates: [String] {
        var dirs: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            dirs.append((exe as NSString).deletingLastPathComponent)
        }
        let bundle = Bundle.main.bundleURL
        dirs += [bundle.path, bundle.deletingLastPathComponent().path]
        return dirs.map { $0 + "/flowturbo" }
    }

    /// Runs a program to completion; returns its exit status and combined stdout + stderr.
    @discardableResult
    public static func run(_ exe: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, out)
    }

    /// A fresh, empty temporary directory whose name starts with `prefix` (unique per process and call).
    public static func tempDirectory(_ prefix: String) -> String {
        let d = NSTemporaryDirectory() + "\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Two free TCP ports p, p+1 on loopback (checked by binding; another process may still take them later).
    public static func freePortPair() -> Int {
        for _ in 0..<50 {
            let p = Int.random(in: 20000...60000)
            if isFree(p) && isFree(p + 1) { return p }
        }
        return 47611
    }

    /// True when a TCP socket can bind `port` on 127.0.0.1 right now.
    public static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
