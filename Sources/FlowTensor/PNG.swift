import CZlib

/// Minimal 8-bit PNG writer: gray, RGB or RGBA, filter type 0 rows, one zlib-deflated IDAT.
///
/// Enough for sample grids and plots; no palette, no interlace, no 16-bit. CRCs come from
/// zlib's `crc32` and the image data is compressed with zlib's `compress2`.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// 8-bit PNG bytes (channels 1 = gray, 3 = RGB, 4 = RGBA), IDAT deflated with zlib (module CZlib), CRC via zlib crc32.
    ///
    /// `pixels` is row-major, `height × width × channels` bytes. A size mismatch or an unsupported
    /// channel count is a programming error and traps (callers build the pixels themselves).
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(width > 0 && height > 0, "PNG.encode: empty image \(width)x\(height)")
        precondition(
            pixels.count == width * height * channels,
            "PNG.encode: \(pixels.count) bytes for \(width)x\(height)x\(channels)")
        let colorType: UInt8
        switch channels {
        case 1: colorType = 0
        case 2: colorType = 4
        case 3: colorType = 2
        case 4: colorType = 6
        default: preconditionFailure("PNG.encode: channels must be 1, 2, 3 or 4, got \(channels)")
        }
        var out = signature
        var ihdr: [UInt8] = []
        appendBE32(&ihdr, UInt32(width))
        appendBE32(&ihdr, UInt32(height))
        ihdr += [8, colorType, 0, 0, 0]  // bit depth, color type, compression, filter, interlace
        appendChunk(&out, "IHDR", ihdr)

        // Raw scanlines, each prefixed by filter type 0 (None).
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        pixels.withUnsafeBufferPointer { src in
            raw.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let d = y * (stride + 1)
                    dst[d] = 0
                    for x in 0..<stride { dst[d + 1 + x] = src[y * stride + x] }
                }
            }
        }
        appendChunk(&out, "IDAT", deflate(raw))
        appendChunk(&out, "IEND", [])
        return out
    }

    /// Encodes and writes a PNG atomically (`FileIO.writeAtomically`).
    public static func write(path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, [1, 2, 3, 4].contains(channels), pixels.count == width * height * channels else {
            throw FlowError(
                "\(path): cannot write PNG of \(width)x\(height)x\(channels) from \(pixels.count) bytes; pixels must be height*width*channels"
            )
        }
        try FileIO.writeAtomically(path, encode(width: width, height: height, channels: channels, pixels: pixels))
    }

    /// A grid of images given as float32 (N, C, H, W) with values in [-1, 1] (clamped), C = 1 or 3 (C = 4 latents: first 3),
    /// `columns` per row, `padding` px between tiles; returns 8-bit pixels ready for `write`.
    ///
    /// Value v maps to round((v + 1) / 2 · 255). Padding and unused tiles are black. Output has 1
    /// channel for C = 1 and 3 channels otherwise.
    public static func grid(
        _ images: Tensor, columns: Int, padding: Int = 2
    ) throws -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        guard images.shape.count == 4 else {
            throw FlowError("PNG.grid: expected images of shape (N, C, H, W), got \(images.shapeDescription)")
        }
        let n = images.shape[0]
        let c = images.shape[1]
        let h = images.shape[2]
        let w = images.shape[3]
        guard n > 0, h > 0, w > 0 else { throw FlowError("PNG.grid: no pixels in \(images.shapeDescription)") }
        guard c == 1 || c == 3 || c == 4 else {
            throw FlowError(
                "PNG.grid: images need 1, 3 or 4 channels (C of N,C,H,W), got \(c) in \(images.shapeDescription)")
        }
        guard columns > 0, padding >= 0 else {
            throw FlowError("PNG.grid: columns must be > 0 and padding >= 0 (got \(columns), \(padding))")
        }
        let outC = c == 1 ? 1 : 3
        let cols = min(columns, n)
        let rows = (n + cols - 1) / cols
        let width = cols * w + (cols + 1) * padding
        let height = rows * h + (rows + 1) * padding
        var pixels = [UInt8](repeating: 0, count: width * height * outC)
        images.data.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n {
                    let ty = padding + (i / cols) * (h + padding)
                    let tx = padding + (i % cols) * (w + padding)
                    for ch in 0..<outC {
                        let plane = (i * c + ch) * h * w
                        for y in 0..<h {
                            for x in 0..<w {
                                var v = src[plane + y * w + x]
                                if v.isNaN { v = -1 }
                                v = Swift.max(-1, Swift.min(1, v))
                                let q = ((v + 1) * 0.5 * 255).rounded()
                                dst[((ty + y) * width + tx + x) * outC + ch] = UInt8(q)
                            }
                        }
                    }
                }
            }
        }
        return (width, height, outC, pixels)
    }

    // MARK: - helpers

    static func appendBE32(_ b: inout [UInt8], _ v: UInt32) {
        b += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    static func appendChunk(_ out: inout [UInt8], _ type: String, _ data: [UInt8]) {
        appendBE32(&out, UInt32(data.count))
        let typeBytes = Array(type.utf8)
        let body = typeBytes + data
        out += body
        appendBE32(&out, CRC32.checksum(body))
    }

    /// zlib-format (RFC 1950) deflate of `raw` at the default compression level.
    static func deflate(_ raw: [UInt8]) -> [UInt8] {
        var bound = compressBound(uLong(raw.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let rc = out.withUnsafeMutableBufferPointer { dst in
            raw.withUnsafeBufferPointer { src in
                compress2(dst.baseAddress, &bound, src.baseAddress, uLong(raw.count), Z_DEFAULT_COMPRESSION)
            }
        }
        precondition(rc == Z_OK, "zlib compress2 failed (\(rc))")
        out.removeLast(out.count - Int(bound))
        return out
    }
}
