import Crypto
import FlowTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// SHA-256 (FIPS 180-4) for model digests, journals and the refiner ↔ predictor ties, computed by swift-crypto
/// (`Crypto.SHA256`, BoringSSL's assembly on Linux). Files are hashed in `chunkBytes` reads, so digesting a
/// 100 MB checkpoint holds 4 MiB, not the whole file.
public enum SHA256 {
    /// Bytes read per step by `hash(file:)`.
    public static let chunkBytes = 4 << 20

    /// The 32-byte digest of `data`.
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        Array(Crypto.SHA256.hash(data: data))
    }

    /// Lower-case hex of the digest of `data`.
    public static func hex(_ data: [UInt8]) -> String {
        hexString(hash(data))
    }

    /// The 32-byte digest of the file at `path`, read in `chunkBytes` pieces; the error names the path and the
    /// OS reason (missing, unreadable, a directory).
    public static func hash(file path: String) throws -> [UInt8] {
        var hasher = Crypto.SHA256()
        try FileIO.forEachChunk(path, chunkBytes: chunkBytes) { hasher.update(bufferPointer: $0) }
        return Array(hasher.finalize())
    }

    /// Lower-case hex of the digest of the file at `path` (same value as `hex(FileIO.read(path))`).
    public static func hex(file path: String) throws -> String {
        hexString(try hash(file: path))
    }

    static func hexString(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(2 * digest.count)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
