import Foundation
import FlowTensor

/// Resolves model specs used on the command line and in cluster assignments.
///
/// A spec is a preset (`gmm:synthetic`, `gmm:mnist`) or a safetensors path: a SiT or PixArt-α predictor/refiner
/// checkpoint, or a Gaussian-mixture file written by `flowturbo fit-gmm` (recognised by its metadata).
public enum ModelLoader {
    /// The built-in presets, for help texts and errors.
    public static let presets = ["gmm:synthetic", "gmm:mnist"]

    /// Loads "gmm:synthetic", "gmm:mnist" or a safetensors path (→ `SiTModel.load`). Error lists the presets if unknown.
    public static func load(_ spec: String, heads: Int? = nil, refiner: Bool? = nil) throws -> VelocityField {
        if spec.hasPrefix("gmm:") {
            if refiner == true { throw FlowError("\(spec) is an analytic predictor, not a refiner; pass a refiner checkpoint to --refiner") }
            return try loadMixture(spec)
        }
        guard FileIO.exists(spec) else {
            throw FlowError("model \"\(spec)\" is neither a preset (\(presets.joined(separator: ", "))) nor an existing safetensors file")
        }
        let file = try SafeTensors.load(spec)
        if file.metadata["format"] == "flowturbo-gmm" {
            if refiner == true { throw FlowError("\(spec) is a Gaussian-mixture predictor, not a refiner") }
            return try GaussianMixtureField.load(spec)
        }
        if PixArtConfig.describes(file) { return try PixArtModel.load(file, heads: heads, refiner: refiner) }
        return try SiTModel.load(spec, heads: heads, refiner: refiner)
    }

    /// Path of the file behind a `gmm:` preset (nil for presets generated in code).
    public static func presetFile(_ spec: String) throws -> String? {
        switch spec {
        case "gmm:synthetic": return nil
        case "gmm:mnist": return modelsDirectory + "/gmm-mnist.safetensors"
        default:
            throw FlowError("unknown preset \"\(spec)\"; presets: \(presets.joined(separator: ", ")), or a safetensors path")
        }
    }

    static func loadMixture(_ spec: String) throws -> GaussianMixtureField {
        guard let path = try presetFile(spec) else { return GaussianMixtureField.synthetic() }
        guard FileIO.exists(path) else {
            throw FlowError("\(spec): \(path) not found; set FLOWTURBO_MODELS to the repository's Models/ directory or rebuild it with `flowturbo fit-gmm`")
        }
        return try GaussianMixtureField.load(path)
    }

    /// Directory of shipped models: $FLOWTURBO_MODELS, else the first `Models/` found walking up from the
    /// executable's real path (/proc/self/exe), else ./Models.
    public static var modelsDirectory: String {
        if let env = ProcessInfo.processInfo.environment["FLOWTURBO_MODELS"], !env.isEmpty { return env }
        var buf = [CChar](repeating: 0, count: 4096)
        if realpath("/proc/self/exe", &buf) != nil {
            var dir = String(cString: buf)
            while let slash = dir.lastIndex(of: "/"), !dir.isEmpty {
                dir = String(dir[..<slash])
                let candidate = (dir.isEmpty ? "" : dir) + "/Models"
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), isDir.boolValue { return candidate }
                if dir.isEmpty { break }
            }
        }
        return "./Models"
    }

    /// Default predictor spec for `sample`/`run`: a SiT checkpoint shipped as Models/sit-mnist.safetensors if present,
    /// else "gmm:mnist".
    public static var defaultPredictorSpec: String {
        let sit = modelsDirectory + "/sit-mnist.safetensors"
        return FileIO.exists(sit) ? sit : "gmm:mnist"
    }

    /// Hex SHA-256 of a model spec: the file bytes for files, the preset file for gmm:*, and for `gmm:synthetic`
    /// the float64 parameters (little-endian) with its shape, so any change to the generator changes the digest.
    public static func digest(_ spec: String) throws -> String {
        if spec.hasPrefix("gmm:") {
            if let path = try presetFile(spec) {
                guard FileIO.exists(path) else { throw FlowError("\(spec): \(path) not found") }
                return SHA256.hex(try FileIO.read(path))
            }
            let g = GaussianMixtureField.synthetic()
            var bytes = Array("gmm:\(g.sampleShape):\(g.numClasses):\(g.componentsPerClass)".utf8)
            for arr in [g.weights, g.means, g.variances] {
                for v in arr { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
            }
            return SHA256.hex(bytes)
        }
        return SHA256.hex(try FileIO.read(spec))
    }
}

/// SHA-256 (FIPS 180-4), for model digests.
public enum SHA256 {
    static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// The 32-byte digest of `data`.
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var msg = data
        msg.append(0x80)
        while msg.count % 64 != 56 { msg.append(0) }
        let bits = UInt64(data.count) &* 8
        for i in (0..<8).reversed() { msg.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        var w = [UInt32](repeating: 0, count: 64)
        @inline(__always) func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        for chunk in stride(from: 0, to: msg.count, by: 64) {
            for i in 0..<16 {
                let b = chunk + 4 * i
                w[i] = UInt32(msg[b]) << 24 | UInt32(msg[b + 1]) << 16 | UInt32(msg[b + 2]) << 8 | UInt32(msg[b + 3])
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }
        var out = [UInt8]()
        for v in h { for s in [24, 16, 8, 0] { out.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
        return out
    }

    /// Lower-case hex of the digest of `data`.
    public static func hex(_ data: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var s = ""
        for b in hash(data) { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
        return s
    }
}
