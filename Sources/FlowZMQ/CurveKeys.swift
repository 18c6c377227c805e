import CZeroMQ
import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A CurveZMQ key pair in Z85 text (40 characters each).
public struct CurveKeyPair: Equatable {
    /// Z85 public key (shareable).
    public let publicKey: String
    /// Z85 secret key (keep private: files are written with mode 0600).
    public let secretKey: String

    /// Wraps existing keys (validated: 40 Z85 characters each).
    public init(publicKey: String, secretKey: String) throws {
        try CurveKeys.validate(publicKey, what: "public key")
        try CurveKeys.validate(secretKey, what: "secret key")
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}

/// Generating, deriving, reading and writing CurveZMQ keys (libzmq's CURVE mechanism).
///
/// Files: `NAME.key` holds the Z85 secret key (mode 0600), `NAME.pub` the Z85 public key. Lines
/// starting with `#` are comments. An allow-list is a directory of `*.pub` files or a file with one
/// Z85 public key per line.
public enum CurveKeys {
    /// True when this libzmq was built with CURVE (libsodium/tweetnacl).
    public static var available: Bool { zmq_has("curve") != 0 }

    /// Fails with a clear error when CURVE is missing.
    public static func requireAvailable() throws {
        guard available else {
            throw FlowError(
                "this libzmq has no CURVE support (zmq_has(\"curve\") = 0); install a libzmq built with libsodium, or use \(.insecure) on a trusted network"
            )
        }
    }

    /// A fresh random key pair (`zmq_curve_keypair`).
    public static func generate() throws -> CurveKeyPair {
        try requireAvailable()
        var pub = [CChar](repeating: 0, count: 41)
        var sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else {
            throw FlowError("zmq_curve_keypair failed: \(String(cString: zmq_strerror(zmq_errno())))")
        }
        return try CurveKeyPair(publicKey: String(cString: pub), secretKey: String(cString: sec))
    }

    /// The public key belonging to a Z85 secret key (`zmq_curve_public`).
    public static func publicKey(fromSecret secret: String) throws -> String {
        try requireAvailable()
        try validate(secret, what: "secret key")
        var pub = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&pub, secret) == 0 else {
            throw FlowError("zmq_curve_public failed: \(String(cString: zmq_strerror(zmq_errno())))")
        }
        return String(cString: pub)
    }

    /// Checks a Z85 key: 40 characters that decode to 32 bytes.
    public static func validate(_ key: String, what: String) throws {
        guard key.utf8.count == 40, decode(key) != nil else {
            throw FlowError(
                "\(what) \"\(key.prefix(12))…\" is not a 40-character Z85 CurveZMQ key; create keys with `flowturbo keys generate`"
            )
        }
    }

    /// The 32 raw bytes of a Z85 key, nil if it is not valid Z85.
    public static func decode(_ key: String) -> [UInt8]? {
        guard key.utf8.count == 40 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&out, key) == nil ? nil : out
    }

    /// Z85 text of 32 raw key bytes.
    public static func encode(_ raw: [UInt8]) -> String? {
        guard raw.count == 32 else { return nil }
        var out = [CChar](repeating: 0, count: 41)
        return zmq_z85_encode(&out, raw, 32) == nil ? nil : String(cString: out)
    }

    /// Writes `NAME.key` (secret, 0600) and `NAME.pub` (public) into `dir`; refuses to overwrite.
    @discardableResult
    public static func write(_ pair: CurveKeyPair, dir: String, name: String) throws -> (secret: String, public: String)
    {
        guard !name.isEmpty, !name.contains("/") else {
            throw FlowError("key name \"\(name)\" must be a plain file name")
        }
        try FileIO.makeDirectories(dir)
        let sec = dir + "/" + name + ".key"
        let pub = dir + "/" + name + ".pub"
        for p in [sec, pub] where FileIO.exists(p) {
            throw FlowError("\(p) exists; keys are never overwritten — remove it or choose another \(.name)")
        }
        try writeFile(sec, "# flowturbo CurveZMQ secret key (\(name)); keep private\n\(pair.secretKey)\n", mode: 0o600)
        try writeFile(pub, "# flowturbo CurveZMQ public key (\(name))\n\(pair.publicKey)\n", mode: 0o644)
        return (sec, pub)
    }

    private static func writeFile(_ path: String, _ text: String, mode: mode_t) throws {
        try FileIO.writeFile(path, Array(text.utf8), permissions: mode, exclusive: true, durable: true)
    }

    /// Key lines of a file (comments and blank lines skipped).
    private static func keyLines(_ path: String) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw FlowError("\(path): cannot read key file; create keys with `flowturbo keys generate \(.out) DIR`")
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// Reads a secret key file (`NAME.key`) and returns the full pair (public derived from it).
    /// Refuses a secret file readable by group or others.
    public static func readSecret(_ path: String) throws -> CurveKeyPair {
        var st = stat()
        if stat(path, &st) == 0 && st.st_mode & 0o077 != 0 {
            throw FlowError(
                "\(path): secret key is readable by other users (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 \(path)"
            )
        }
        guard let key = try keyLines(path).first else { throw FlowError("\(path): no key in file") }
        try validate(key, what: "secret key in \(path)")
        return try CurveKeyPair(publicKey: publicKey(fromSecret: key), secretKey: key)
    }

    /// Reads a public key file (`NAME.pub`, first key line).
    public static func readPublic(_ path: String) throws -> String {
        guard let key = try keyLines(path).first else { throw FlowError("\(path): no key in file") }
        try validate(key, what: "public key in \(path)")
        return key
    }

    /// A secret key file given where public keys belong would publish the secret to every host holding the list.
    static func refuseSecretAsAllowList(_ path: String) throws {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard !path.hasSuffix(".key"), !text.contains("secret key") else {
            throw FlowError(
                "\(.allowList) \(path) is a secret key file; the allow-list takes worker public keys "
                    + "(.pub files or a directory of them), never a .key")
        }
    }

    /// Reads an allow-list: every `*.pub` file in a directory, or every key line of a file.
    public static func readAllowList(_ path: String) throws -> Set<String> {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FlowError(
                "\(.allowList) \(path): no such file or directory; give a directory of worker .pub files or a file of public keys"
            )
        }
        var keys = Set<String>()
        if isDir.boolValue {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            for f in files.sorted() where f.hasSuffix(".pub") { keys.insert(try readPublic(path + "/" + f)) }
        } else {
            try refuseSecretAsAllowList(path)
            for k in try keyLines(path) {
                try validate(k, what: "public key in \(path)")
                keys.insert(k)
            }
        }
        guard !keys.isEmpty else {
            throw FlowError(
                "\(.allowList) \(path): no public keys found; add worker .pub files from `flowturbo keys generate`")
        }
        return keys
    }
}
