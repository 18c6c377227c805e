import FlowTensor

/// Reference canvases for an evaluation prompt set: sample i answers prompt i / `imagesPerPrompt` and is composed
/// from the digit data (MNIST test) by `QuadComposer.reference(spec, seed:, index: i)`, a function of (seed, i) only.
public enum QuadReference {
    /// The spec of every sample: each prompt's spec repeated `imagesPerPrompt` times in a row.
    public static func sampleSpecs(_ specs: [QuadSpec], imagesPerPrompt k: Int) -> [QuadSpec] {
        specs.flatMap { [QuadSpec](repeating: $0, count: max(k, 1)) }
    }

    /// Canvases (specs.count × 1×32×32) for per-sample `specs`.
    public static func canvases(_ composer: QuadComposer, specs: [QuadSpec], seed: UInt64) -> [Float] {
        var out = [Float](repeating: -1, count: specs.count * QuadCanvas.pixels)
        out.withUnsafeMutableBufferPointer { p in
            for (i, s) in specs.enumerated() {
                composer.reference(s, seed: seed, index: i, out: p.baseAddress! + i * QuadCanvas.pixels)
            }
        }
        return out
    }
}
