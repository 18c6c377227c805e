import CZlib

/// zlib decompression helpers shared by the `.npz` (raw deflate) and IDX (gzip) readers.
enum Inflate {
    /// Inflates `input` with zlib `windowBits` (-15 raw deflate, 15 zlib, 31 gzip, 47 auto zlib/gzip).
    ///
    /// `expected` (when known) presizes the output and is checked exactly. `source` names the input
    /// in errors. Concatenated gzip members are followed until the input ends.
    static func inflate(_ input: ArraySlice<UInt8>, windowBits: Int32, expected: Int?, source: String) throws -> [UInt8]
    {
        var out = [UInt8](repeating: 0, count: Swift.max(expected ?? input.count * 4, 1024))
        var produced = 0
        var consumed = 0
        let total = input.count
        try input.withUnsafeBufferPointer { src in
            repeat {
                var zs = z_stream()
                var rc = inflateInit2_(&zs, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
                guard rc == Z_OK else { throw FlowError("\(source): zlib inflateInit failed (\(rc))") }
                defer { inflateEnd(&zs) }
                zs.next_in = UnsafeMutablePointer(mutating: src.baseAddress! + consumed)
                zs.avail_in = uInt(total - consumed)
                while true {
                    if produced == out.count {
                        if let e = expected, produced >= e {
                            throw FlowError(
                                "\(source): decompressed data is larger than the \(e) bytes the header declares")
                        }
                        out += [UInt8](repeating: 0, count: out.count)
                    }
                    rc = out.withUnsafeMutableBufferPointer { dst -> Int32 in
                        zs.next_out = dst.baseAddress! + produced
                        zs.avail_out = uInt(dst.count - produced)
                        let r = CZlib.inflate(&zs, Z_NO_FLUSH)
                        produced = dst.count - Int(zs.avail_out)
                        return r
                    }
                    if rc == Z_STREAM_END { break }
                    if rc == Z_BUF_ERROR && zs.avail_out != 0 {
                        throw FlowError("\(source): compressed data is truncated; re-download or re-create the file")
                    }
                    if rc != Z_OK && rc != Z_BUF_ERROR {
                        let msg = zs.msg.map { String(cString: $0) } ?? "code \(rc)"
                        throw FlowError(
                            "\(source): corrupt compressed data (\(msg)); re-download or re-create the file")
                    }
                }
                consumed = total - Int(zs.avail_in)
            } while windowBits > 15 && consumed < total && src[consumed] == 0x1f  // next gzip member
        }
        out.removeLast(out.count - produced)
        if let e = expected, produced != e {
            throw FlowError("\(source): decompressed to \(produced) bytes but the header declares \(e)")
        }
        return out
    }
}
