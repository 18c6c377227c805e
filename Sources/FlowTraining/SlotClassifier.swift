import FlowTensor

/// The quad-canvas slot classifier: a `DigitClassifier` MLP on one 16×16 slot (256 values in [−1, 1]) with
/// 11 classes, digits 0–9 and `emptyClass` (10). It reads a 1×32×32 canvas as its four slots in reading order
/// (0 TL, 1 TR, 2 BL, 3 BR); its penultimate activations of the four slots, concatenated, are the canvas feature
/// space of quad-canvas Fréchet distances.
public struct SlotClassifier {
    /// Class index of an empty slot.
    public static let emptyClass = 10
    /// Classes: digits 0–9 and empty.
    public static let classes = 11
    /// Values per slot (16×16).
    public static let slotPixels = QuadCanvas.slotSize * QuadCanvas.slotSize
    /// Shipped file name under `Models/`.
    public static let fileName = "slot-classifier.safetensors"
    /// Slot prediction of a canvas holding NaN/inf (never satisfies a spec).
    public static let unreadable = -1

    public let model: DigitClassifier

    /// Wraps a classifier of 256 inputs and 11 outputs.
    public init(model: DigitClassifier) throws {
        guard model.inputSize == SlotClassifier.slotPixels, model.classes == SlotClassifier.classes else {
            throw FlowError(
                "slot classifier must map 256 values (16×16) to 11 classes, got \(model.inputSize) → "
                    + "\(model.classes); train one with `flowturbo train-slot-classifier`")
        }
        self.model = model
    }

    /// Loads a slot classifier written by `DigitClassifier.save`.
    public static func load(_ path: String) throws -> SlotClassifier {
        try SlotClassifier(model: try DigitClassifier.load(path))
    }

    /// Feature width per canvas: four slots' penultimate activations.
    public var featureDim: Int { 4 * model.featureDim }

    /// The four slots of each canvas (count × 1×32×32) as count·4 rows of 256 values; non-finite values
    /// become −1 and the canvas is flagged in `finite`.
    public static func slots(of canvases: [Float], count: Int) throws -> (slots: [Float], finite: [Bool]) {
        let px = QuadCanvas.pixels
        let side = QuadCanvas.slotSize
        guard canvases.count == count * px else {
            throw FlowError(
                "quad canvases: \(canvases.count) values for \(count) samples; "
                    + "expected \(count)×1×32×32")
        }
        var out = [Float](repeating: -1, count: count * 4 * slotPixels)
        var finite = [Bool](repeating: true, count: count)
        for i in 0..<count {
            for s in 0..<4 {
                let base = i * px + QuadCanvas.slotOffset(s)
                let o = (i * 4 + s) * slotPixels
                for r in 0..<side {
                    for c in 0..<side {
                        let v = canvases[base + r * QuadCanvas.size + c]
                        if v.isFinite { out[o + r * side + c] = v } else { finite[i] = false }
                    }
                }
            }
        }
        return (out, finite)
    }

    /// Digit in each slot of each canvas (nil = empty; `unreadable` in every slot of a non-finite canvas).
    public func predictSlots(_ canvases: [Float], count: Int) throws -> [[Int?]] {
        let (x, finite) = try SlotClassifier.slots(of: canvases, count: count)
        let pred = try model.predict(x, count: count * 4)
        return (0..<count).map { i in
            guard finite[i] else { return [Int?](repeating: SlotClassifier.unreadable, count: 4) }
            return (0..<4).map { s in pred[i * 4 + s] == SlotClassifier.emptyClass ? nil : pred[i * 4 + s] }
        }
    }

    /// Canvas features (count × `featureDim`): the four slots' penultimate activations in slot order.
    public func canvasFeatures(_ canvases: [Float], count: Int) throws -> [Float] {
        let (x, _) = try SlotClassifier.slots(of: canvases, count: count)
        return try model.features(x, count: count * 4)
    }
}
