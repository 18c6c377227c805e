import FlowTensor
import Foundation

/// Exports of a finished run for the evaluators users already run: ADM/DiT `.npz`, a PNG folder, GenEval's
/// folder layout (`RunExportImages`).
///
/// Only a complete run whose every shard verifies (`RunIntegrity`) is exported. Shards are streamed in index
/// order, one at a time, so memory is bounded by one shard whatever N is.
///
/// Pixels follow DiT's `sample.py` (`torch.clamp(127.5 * x + 128.0, 0, 255).to(torch.uint8)`): in float32,
/// u = trunc(clamp(127.5·x + 128, 0, 255)), i.e. round-half-up of (x + 1)·127.5 clipped to [0, 255]; NaN → 0.
public enum RunExport {
    /// The export formats (`rawValue` is the name users give).
    public enum Format: String, CaseIterable, Sendable {
        case admNPZ = "adm-npz"
        case png
        case geneval
    }

    /// One shard of a verified run: its first sample index, sample count and float32 samples `[count, C, H, W]`.
    public struct Shard {
        public var first: Int
        public var count: Int
        public var samples: NPYArray
    }

    /// The image geometry of a run: channels C (1 or 3), height H, width W of the `[C, H, W]` samples.
    public struct Geometry: Equatable, Sendable {
        public var channels: Int
        public var height: Int
        public var width: Int
    }

    /// A verified run ready to stream: header, intact shards in index order, image geometry.
    public struct Source {
        public var outDir: String
        public var check: RunIntegrity.Result
        public var geometry: Geometry
        public var samples: Int { check.samplesIntact }
    }

    /// One pixel value from a sample value x in [-1, 1], exactly as DiT's `sample.py` (see the type's comment).
    @inline(__always)
    public static func pixel(_ x: Float) -> UInt8 {
        let y: Float = 127.5 * x + 128.0
        if !(y > 0) { return 0 }
        if y >= 255 { return 255 }
        return UInt8(y)
    }

    /// Checks `outDir` is a complete run of image samples whose every shard verifies; reads the first shard's
    /// header for the geometry. Refuses incomplete or damaged runs and 4-channel latents with a one-line error.
    public static func open(outDir: String) throws -> Source {
        guard FileIO.exists(RunDirectory.journalPath(outDir)) else {
            throw FlowError("\(outDir): no journal.log, so not a run directory; give the directory a run wrote")
        }
        let check = try RunIntegrity.check(outDir: outDir)
        let hint = "(`flowturbo verify \(outDir)` lists what is missing)"
        if let d = check.damaged.first {
            throw FlowError(
                "\(outDir)/\(d.file): shard \(d.shard) \(d.reason); resume the run to compute it "
                    + "again, then export \(hint)")
        }
        guard check.complete, let firstShard = check.intact.first else {
            throw FlowError(
                "\(outDir): the run is incomplete (\(check.samplesIntact) of \(check.header.samples) "
                    + "samples in verified shards); finish it (resume), then export \(hint)")
        }
        let first = try NPY.read(outDir + "/" + firstShard.file)
        let shape = Array(first.shape.dropFirst())
        guard shape.count == 3, shape[1] > 0, shape[2] > 0 else {
            throw FlowError(
                "\(outDir): samples have shape \(shape), not images [C, H, W]; only image runs export "
                    + "to image formats (use samples.npz for other data)")
        }
        guard shape[0] == 1 || shape[0] == 3 else {
            throw FlowError(
                "\(outDir): samples have \(shape[0]) channels (shape \(shape)); \(shape[0])-channel "
                    + "latents need a VAE decode to RGB first — only 1- and 3-channel image runs export")
        }
        return Source(
            outDir: outDir, check: check,
            geometry: Geometry(
                channels: shape[0], height: shape[1],
                width: shape[2]))
    }

    /// Calls `body` with every shard in index order, re-checking each file's CRC-32 against the journal as it
    /// is read (a file changed since `open` is refused), one shard in memory at a time.
    public static func forEachShard(_ src: Source, _ body: (Shard) throws -> Void) throws {
        for c in src.check.intact {
            let path = src.outDir + "/" + c.file
            let bytes = try FileIO.read(path)
            guard CRC32.hex(bytes) == c.checksum else {
                throw FlowError(
                    "\(path): changed since it was verified (CRC-32 \(CRC32.hex(bytes)) != journal "
                        + "\(c.checksum)); export again once the run is idle (`flowturbo verify \(src.outDir)`)")
            }
            let a = try NPY.decode(bytes, source: path)
            let g = src.geometry
            guard a.dtype == .float32, a.shape == [c.count, g.channels, g.height, g.width] else {
                throw FlowError(
                    "\(path): shape \(a.shape) differs from the run's [\(c.count), \(g.channels), "
                        + "\(g.height), \(g.width)]; the run directory is inconsistent — run it again")
            }
            try body(Shard(first: c.first, count: c.count, samples: a))
        }
    }

    /// Pixels of sample `j` of a shard, HWC with `outChannels` (3: 1-channel samples replicated, or 1: gray
    /// for a 1-channel run), into `out` (H·W·outChannels bytes; allocated once by the caller).
    public static func pixels(
        _ shard: Shard, sample j: Int, geometry g: Geometry, outChannels: Int,
        into out: inout [UInt8]
    ) {
        let hw = g.height * g.width
        // samples: [count, C, H, W] float32 little-endian; out: [H, W, outChannels] uint8
        shard.samples.bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { dst in
                let base = j * g.channels * hw * 4
                for p in 0..<hw {
                    for ch in 0..<outChannels {
                        let src = g.channels == 1 ? 0 : ch
                        let bits = raw.loadUnaligned(fromByteOffset: base + (src * hw + p) * 4, as: UInt32.self)
                        dst[p * outChannels + ch] = pixel(Float(bitPattern: UInt32(littleEndian: bits)))
                    }
                }
            }
        }
    }

    /// Writes `arr_0` uint8 `[N, H, W, 3]` (NHWC; 1-channel runs replicated to RGB) to `path` as an `.npz`, as
    /// ADM's evaluator and DiT's `create_npz_from_sample_folder` expect; streamed, ZIP64 past 4 GiB, atomic.
    /// Returns N. `zip64Threshold` is for tests (see `NPZStreamWriter`).
    @discardableResult
    public static func writeADMNPZ(
        outDir: String, path: String, zip64Threshold: UInt64 = 0xFFFF_FFFF
    ) throws
        -> Int
    {
        let src = try open(outDir: outDir)
        let g = src.geometry
        let writer = try NPZStreamWriter(
            path: path, name: "arr_0", dtype: .uint8,
            shape: [src.samples, g.height, g.width, 3], zip64Threshold: zip64Threshold)
        do {
            var image = [UInt8](repeating: 0, count: g.height * g.width * 3)
            var chunk: [UInt8] = []
            try forEachShard(src) { shard in
                chunk.removeAll(keepingCapacity: true)
                for j in 0..<shard.count {
                    pixels(shard, sample: j, geometry: g, outChannels: 3, into: &image)
                    chunk += image
                }
                try writer.append(chunk)
            }
            try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
        return src.samples
    }
}
