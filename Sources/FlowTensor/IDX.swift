/// MNIST IDX files (`train-images-idx3-ubyte[.gz]`, `…-labels-idx1-ubyte[.gz]`), plain or gzipped.
///
/// Format: big-endian magic `0x00 0x00 0x08 ndim` (0x08 = unsigned byte), then ndim big-endian
/// 32-bit dimensions, then the bytes. Images are ndim 3 (count, rows, cols); labels ndim 1.
public enum IDX {
    /// Reads an image file: `count` images of `rows × cols` bytes, row-major, 0 = background.
    public static func readImages(_ path: String) throws -> (count: Int, rows: Int, cols: Int, pixels: [UInt8]) {
        let (dims, data) = try parse(try load(path), ndim: 3, source: path, hint: "an images file (idx3-ubyte)")
        return (dims[0], dims[1], dims[2], data)
    }

    /// Reads a label file: one byte per example.
    public static func readLabels(_ path: String) throws -> [UInt8] {
        try parse(try load(path), ndim: 1, source: path, hint: "a labels file (idx1-ubyte)").1
    }

    /// File bytes, gunzipped when they start with the gzip magic.
    static func load(_ path: String) throws -> [UInt8] {
        let b = try FileIO.read(path)
        if b.count >= 2 && b[0] == 0x1f && b[1] == 0x8b {
            return try Inflate.inflate(b[...], windowBits: 31, expected: nil, source: path)
        }
        return b
    }

    /// Validates the header and returns (dims, payload).
    static func parse(_ b: [UInt8], ndim: Int, source: String, hint: String) throws -> ([Int], [UInt8]) {
        guard b.count >= 4, b[0] == 0, b[1] == 0 else {
            throw FlowError("\(source): not an IDX file (bad magic); expected \(hint), e.g. t10k-images-idx3-ubyte.gz")
        }
        guard b[2] == 0x08 else {
            throw FlowError(
                "\(source): IDX element type 0x\(String(b[2], radix: 16)) is not unsigned byte (0x08); only MNIST-style uint8 files are supported"
            )
        }
        guard Int(b[3]) == ndim else {
            throw FlowError(
                "\(source): IDX file has \(b[3]) dimensions but \(hint) has \(ndim); did you swap the images and labels paths?"
            )
        }
        let start = 4 + 4 * ndim
        guard b.count >= start else { throw FlowError("\(source): truncated IDX header") }
        var dims: [Int] = []
        var total = 1
        for i in 0..<ndim {
            let o = 4 + 4 * i
            let d = Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
            dims.append(d)
            total *= d
        }
        guard b.count - start == total else {
            throw FlowError(
                "\(source): IDX dims \(dims) need \(total) bytes but the file has \(b.count - start); the file is truncated or corrupt"
            )
        }
        return (dims, Array(b[start...]))
    }
}
