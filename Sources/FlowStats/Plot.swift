import FlowTensor
import Foundation

/// Tiny raster plotting to PNG: an RGB canvas with axes, bars, polylines and 5×7 text.
public struct Canvas {
    /// Size in pixels.
    public let width: Int, height: Int
    /// RGB bytes, row-major.
    public var pixels: [UInt8]

    /// A white canvas.
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    /// Sets one pixel (ignored outside the canvas).
    public mutating func set(_ x: Int, _ y: Int, _ rgb: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let o = (y * width + x) * 3
        pixels[o] = rgb.0
        pixels[o + 1] = rgb.1
        pixels[o + 2] = rgb.2
    }

    /// Fills the rectangle [x0, x1) × [y0, y1).
    public mutating func fill(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ rgb: (UInt8, UInt8, UInt8)) {
        for y in Swift.max(0, y0)..<Swift.min(height, Swift.max(y1, 0)) {
            for x in Swift.max(0, x0)..<Swift.min(width, Swift.max(x1, 0)) { set(x, y, rgb) }
        }
    }

    /// Bresenham line.
    public mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ rgb: (UInt8, UInt8, UInt8)) {
        var x = x0
        var y = y0
        let dx = abs(x1 - x0)
        let dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1
        let sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        while true {
            set(x, y, rgb)
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy {
                err += dy
                x += sx
            }
            if e2 <= dx {
                err += dx
                y += sy
            }
        }
    }

    /// Draws `text` with its top-left at (x, y) in the 5×7 font, 6 px per character.
    public mutating func text(_ s: String, _ x: Int, _ y: Int, _ rgb: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        for (i, c) in s.enumerated() {
            let g = Font5x7.glyph(c)
            for r in 0..<7 { for b in 0..<5 where g[r] & (16 >> UInt8(b)) != 0 { set(x + i * 6 + b, y + r, rgb) } }
        }
    }

    /// Writes the canvas as an RGB PNG.
    public func write(_ path: String) throws {
        try PNG.write(path: path, width: width, height: height, channels: 3, pixels: pixels)
    }
}

/// Histogram and line plots with labelled axes.
public enum Plot {
    static let margin = (left: 60, right: 16, top: 24, bottom: 36)

    /// Short numeric label (up to 4 significant digits).
    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 10000 || abs(v) < 0.01 {
            let e = Int(log10(abs(v)).rounded(.down))
            let m = v / pow(10, Double(e))
            return String(format: "%.1fE%d", m, e)
        }
        return String(format: abs(v) >= 100 ? "%.0f" : abs(v) >= 10 ? "%.1f" : "%.2f", v)
    }

    /// Axes with min/max tick labels, title and x-axis caption; returns the plot rectangle.
    static func frame(
        _ c: inout Canvas, title: String, xLabel: String, xRange: (Double, Double), yRange: (Double, Double)
    ) -> (x0: Int, y0: Int, x1: Int, y1: Int) {
        let x0 = margin.left
        let x1 = c.width - margin.right
        let y0 = margin.top
        let y1 = c.height - margin.bottom
        c.line(x0, y1, x1, y1, (0, 0, 0))
        c.line(x0, y0, x0, y1, (0, 0, 0))
        c.text(title, x0, 8)
        c.text(xLabel, (x0 + x1) / 2 - xLabel.count * 3, c.height - 12)
        c.text(label(xRange.0), x0, y1 + 6)
        let xm = label(xRange.1)
        c.text(xm, x1 - xm.count * 6, y1 + 6)
        let ym = label(yRange.1)
        c.text(ym, Swift.max(0, x0 - 4 - ym.count * 6), y0)
        let yl = label(yRange.0)
        c.text(yl, Swift.max(0, x0 - 4 - yl.count * 6), y1 - 7)
        return (x0, y0, x1, y1)
    }

    /// Bar histogram of `values` in `bins` equal bins over [min, max].
    public static func histogram(
        _ values: [Double], bins: Int = 40, title: String, xLabel: String, width: Int = 640, height: Int = 360
    ) -> Canvas {
        var c = Canvas(width: width, height: height)
        let finite = values.filter { $0.isFinite }
        let lo = finite.min() ?? 0
        let hi0 = finite.max() ?? 1
        let hi = hi0 > lo ? hi0 : lo + 1
        var counts = [Int](repeating: 0, count: bins)
        for v in finite { counts[Swift.min(bins - 1, Int((v - lo) / (hi - lo) * Double(bins)))] += 1 }
        let top = Double(counts.max() ?? 1)
        let r = frame(&c, title: title, xLabel: xLabel, xRange: (lo, hi), yRange: (0, top))
        let bw = Double(r.x1 - r.x0) / Double(bins)
        for (i, k) in counts.enumerated() where k > 0 {
            let h = Int(Double(r.y1 - r.y0) * Double(k) / Swift.max(top, 1))
            c.fill(r.x0 + 1 + Int(Double(i) * bw), r.y1 - h, r.x0 + Int(Double(i + 1) * bw), r.y1, (70, 110, 200))
        }
        return c
    }

    /// Polyline through (x, y) points.
    public static func line(
        _ xs: [Double], _ ys: [Double], title: String, xLabel: String, width: Int = 640, height: Int = 360
    ) -> Canvas {
        var c = Canvas(width: width, height: height)
        let n = Swift.min(xs.count, ys.count)
        let xlo = xs.min() ?? 0
        let xhi = Swift.max((xs.max() ?? 1), xlo + 1e-9)
        let yhi = Swift.max(ys.max() ?? 1, 1e-9)
        let r = frame(&c, title: title, xLabel: xLabel, xRange: (xlo, xhi), yRange: (0, yhi))
        func px(_ i: Int) -> (Int, Int) {
            (
                r.x0 + Int((xs[i] - xlo) / (xhi - xlo) * Double(r.x1 - r.x0)),
                r.y1 - Int(ys[i] / yhi * Double(r.y1 - r.y0))
            )
        }
        if n == 1 {
            let p = px(0)
            c.fill(p.0 - 2, p.1 - 2, p.0 + 3, p.1 + 3, (200, 60, 60))
        }
        for i in 1..<Swift.max(n, 1) {
            let a = px(i - 1)
            let b = px(i)
            c.line(a.0, a.1, b.0, b.1, (200, 60, 60))
        }
        return c
    }
}
