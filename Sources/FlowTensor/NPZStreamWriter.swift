import CZlib
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A one-array `.npz` written sequentially: bounded memory, any size (ZIP64 past 4 GiB), atomic.
///
/// The member `name.npy` is stored (method 0), as `np.savez` writes it. The array's total size is known up
/// front (dtype × shape), so the local header is written first with a zero CRC-32 that `finish` patches in
/// place (no data descriptor: every reader accepts it). Bytes go to `path.tmp-PID`; `finish` fsyncs,
/// renames it over `path` and fsyncs the directory; `abandon` (or any error) removes the temp file.
///
/// ZIP64: any size or offset ≥ `zip64Threshold` (0xFFFFFFFF, the zip limit, unless a test forces a small
/// one) is written as 0xFFFFFFFF with the real value in a zip64 extra field (id 1: size, compressed size,
/// offset), version needed 4.5, followed by a zip64 end-of-central-directory record and locator.
public final class NPZStreamWriter {
    public let path: String
    let tmp: String
    let zip64Threshold: UInt64
    let memberSize: UInt64
    let zip64Member: Bool
    let nameBytes: [UInt8]
    var fd: Int32
    var written: UInt64 = 0
    var crc: UInt32 = 0

    /// Creates `path`'s temp file and writes the local header and the `.npy` header of an array of `shape`.
    public init(
        path: String, name: String = "arr_0", dtype: NPYDType, shape: [Int],
        zip64Threshold: UInt64 = 0xFFFF_FFFF
    ) throws {
        guard shape.allSatisfy({ $0 >= 0 }), !name.isEmpty else {
            throw FlowError("\(path): cannot write array \(name) of shape \(shape); give a name and sizes >= 0")
        }
        self.path = path
        self.tmp = path + ".tmp-\(getpid())"
        self.zip64Threshold = zip64Threshold
        self.nameBytes = Array((name + ".npy").utf8)
        let npyHeader = NPY.encode(dtype: dtype, shape: shape, body: UnsafeRawBufferPointer(start: nil, count: 0))
        let body = shape.reduce(1, *) * dtype.size
        memberSize = UInt64(npyHeader.count + body)
        zip64Member = memberSize >= zip64Threshold
        fd = try FileIO.create(tmp, reportedAs: path)
        do {
            try put(localHeader())
            try append(npyHeader)
        } catch {
            abandon()
            throw error
        }
    }

    deinit { if fd >= 0 { abandon() } }

    /// Appends array bytes (little-endian elements in C order).
    public func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// Raw-buffer form of `append(_:)`.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.baseAddress != nil, bytes.count > 0 else { return }
        guard written + UInt64(bytes.count) <= memberSize else {
            throw FlowError("\(path): more bytes than the array's shape holds (\(memberSize)); programming error")
        }
        crc = CRC32.checksum(bytes, crc: crc)
        try put(bytes)
        written += UInt64(bytes.count)
    }

    /// Writes the central directory (and zip64 records when needed), patches the CRC-32, fsyncs and renames.
    public func finish() throws {
        guard written == memberSize else {
            throw FlowError("\(path): \(written) of \(memberSize) array bytes were written; the export stopped early")
        }
        let cdOffset = UInt64(30 + nameBytes.count + (zip64Member ? 20 : 0)) + memberSize
        let central = centralHeader()
        let cdSize = UInt64(central.count)
        let zip64End = zip64Member || cdOffset >= zip64Threshold || cdSize >= zip64Threshold
        var tail = central
        if zip64End {
            le32(&tail, 0x0606_4B50)
            le64(&tail, 44)
            le16(&tail, 45)
            le16(&tail, 45)
            le32(&tail, 0)
            le32(&tail, 0)
            le64(&tail, 1)
            le64(&tail, 1)
            le64(&tail, cdSize)
            le64(&tail, cdOffset)
            le32(&tail, 0x0706_4B50)
            le32(&tail, 0)
            le64(&tail, cdOffset + cdSize)
            le32(&tail, 1)
        }
        le32(&tail, 0x0605_4B50)
        le32(&tail, 0)
        le16(&tail, 1)
        le16(&tail, 1)
        le32(&tail, capped(cdSize))
        le32(&tail, zip64End ? 0xFFFF_FFFF : capped(cdOffset))
        le16(&tail, 0)
        try put(tail)
        var crcBytes: [UInt8] = []
        le32(&crcBytes, UInt64(crc))
        let n = crcBytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4, 14) }
        guard n == 4 else { throw failure("patching the CRC-32") }
        let f = fd
        fd = -1
        try FileIO.commit(fd: f, temp: tmp, to: path, sync: true, syncDirectory: true)
    }

    /// Stops writing and removes the temp file; `path` is left as it was.
    public func abandon() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(tmp)
    }

    // MARK: - records

    func localHeader() -> [UInt8] {
        var h: [UInt8] = []
        le32(&h, 0x0403_4B50)
        le16(&h, zip64Member ? 45 : 20)
        le16(&h, 0)
        le16(&h, 0)
        le16(&h, 0)
        le16(&h, 0x21)  // time 00:00:00, date 1980-01-01
        le32(&h, 0)  // CRC-32, patched by finish()
        le32(&h, capped(memberSize))
        le32(&h, capped(memberSize))
        le16(&h, UInt64(nameBytes.count))
        le16(&h, zip64Member ? 20 : 0)
        h += nameBytes
        if zip64Member {
            le16(&h, 1)
            le16(&h, 16)
            le64(&h, memberSize)
            le64(&h, memberSize)
        }
        return h
    }

    func centralHeader() -> [UInt8] {
        let offsetIs64 = 0 >= zip64Threshold
        var extra: [UInt8] = []
        if zip64Member {
            le64(&extra, memberSize)
            le64(&extra, memberSize)
        }
        if offsetIs64 { le64(&extra, 0) }
        var h: [UInt8] = []
        le32(&h, 0x0201_4B50)
        le16(&h, extra.isEmpty ? 20 : 45)
        le16(&h, extra.isEmpty ? 20 : 45)
        le16(&h, 0)
        le16(&h, 0)
        le16(&h, 0)
        le16(&h, 0x21)
        le32(&h, UInt64(crc))
        le32(&h, capped(memberSize))
        le32(&h, capped(memberSize))
        le16(&h, UInt64(nameBytes.count))
        le16(&h, extra.isEmpty ? 0 : UInt64(4 + extra.count))
        le16(&h, 0)
        le16(&h, 0)
        le16(&h, 0)
        le32(&h, 0o100644 << 16)
        le32(&h, offsetIs64 ? 0xFFFF_FFFF : 0)
        h += nameBytes
        if !extra.isEmpty {
            le16(&h, 1)
            le16(&h, UInt64(extra.count))
            h += extra
        }
        return h
    }

    func capped(_ v: UInt64) -> UInt64 { v >= zip64Threshold ? 0xFFFF_FFFF : v }

    func le16(_ b: inout [UInt8], _ v: UInt64) { b += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff)] }
    func le32(_ b: inout [UInt8], _ v: UInt64) {
        for s in stride(from: 0, to: 32, by: 8) { b.append(UInt8((v >> UInt64(s)) & 0xff)) }
    }

    func le64(_ b: inout [UInt8], _ v: UInt64) {
        for s in stride(from: 0, to: 64, by: 8) { b.append(UInt8((v >> UInt64(s)) & 0xff)) }
    }

    func put(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try put($0) } }

    func put(_ bytes: UnsafeRawBufferPointer) throws {
        do {
            try FileIO.writeAll(fd, bytes, path: path)
        } catch {
            abandon()
            throw error
        }
    }

    func failure(_ what: String) -> FlowError {
        let reason = String(cString: strerror(errno))
        abandon()
        return FlowError("\(path): \(what) failed (\(reason)); nothing was written — free space and retry")
    }
}
