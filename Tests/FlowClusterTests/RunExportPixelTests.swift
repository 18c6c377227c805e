import FlowTensor
import XCTest

@testable import FlowCluster

/// The export's pixel cast and layout: DiT's `torch.clamp(127.5 * x + 128.0, 0, 255).to(torch.uint8)` at
/// closed-form points (ends, centre, clipping, truncation at .5 steps), and [C, H, W] → [H, W, C], gray replicated.
final class RunExportPixelTests: XCTestCase {
    func testPixelCastMatchesDiTAtClosedFormPoints() {
        // 127.5·x + 128: −1 → 0.5 → 0; 1 → 255.5 → 255; 0 → 128; 2/255 − 1 → 1.5 → 1 (truncation, not
        // rounding to even); beyond ±1 clipped; NaN → 0.
        let cases: [(Float, UInt8)] = [
            (-1, 0), (1, 255), (0, 128), (2.0 / 255 - 1, 1), (-3, 0), (3, 255),
            (-0.5, 64), (0.5, 191), (.nan, 0), (.infinity, 255), (-.infinity, 0),
        ]
        for (x, want) in cases {
            XCTAssertEqual(RunExport.pixel(x), want, "x = \(x)")
        }
        // Against the float64 form floor(127.5·x + 128) where float32 rounding cannot reach an integer boundary.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            let x = Float.random(in: -1.2...1.2, using: &rng)
            let y = 127.5 * Double(x) + 128
            guard abs(y - y.rounded()) > 1e-4 else { continue }
            XCTAssertEqual(RunExport.pixel(x), UInt8(max(0, min(255, y.rounded(.down)))), "x = \(x)")
        }
    }

    func testPixelsAreHWCWithGrayReplicated() {
        // Two samples [2, C, 2, 3]; sample 1, channel c, row y, column x has value v(c, y, x) chosen to map to
        // 10·c + 3·y + x + 100 (x = (u − 128 + 0.25) / 127.5 sits a quarter step above u).
        for channels in [1, 3] {
            let g = RunExport.Geometry(channels: channels, height: 2, width: 3)
            var floats = [Float](repeating: -1, count: 2 * channels * 6)
            func code(_ c: Int, _ y: Int, _ x: Int) -> Int { 10 * c + 3 * y + x + 100 }
            for c in 0..<channels {
                for y in 0..<2 {
                    for x in 0..<3 {
                        floats[channels * 6 + c * 6 + y * 3 + x] = (Float(code(c, y, x)) - 128 + 0.25) / 127.5
                    }
                }
            }
            let bytes = floats.withUnsafeBytes { Array($0) }
            let shard = RunExport.Shard(
                first: 0, count: 2,
                samples: NPYArray(
                    dtype: .float32,
                    shape: [2, channels, 2, 3], bytes: bytes))
            var out = [UInt8](repeating: 0, count: 18)
            RunExport.pixels(shard, sample: 1, geometry: g, outChannels: 3, into: &out)
            var want: [UInt8] = []
            for y in 0..<2 {
                for x in 0..<3 {
                    for c in 0..<3 { want.append(UInt8(code(channels == 1 ? 0 : c, y, x))) }
                }
            }
            XCTAssertEqual(out, want, "\(channels) channel(s)")
        }
    }
}
