import Foundation

/// The loop every trainer runs (SiT, text-to-image predictor and refiner): `trainStep` until `options.steps`, a
/// progress line every `options.logEvery` steps and at the end (loss of the window, samples/s, s/step, elapsed,
/// ETA), a checkpoint every `options.checkpointEvery` steps. Returns the mean loss of the last logging window.
func runTrainingLoop(
    options: TrainOptions, step: () -> Int, trainStep: () -> Double, save: (String) throws -> Void,
    log: (String) -> Void
) throws -> Double {
    let start = Date()
    let startStep = step()
    var window = 0.0
    var wn = 0
    var last = Double.nan
    while step() < options.steps {
        window += trainStep()
        wn += 1
        let s = step()
        if s % options.logEvery == 0 || s == options.steps {
            last = window / Double(wn)
            let el = Date().timeIntervalSince(start)
            let done = max(s - startStep, 1)
            let eta = Double(options.steps - s) * el / Double(done)
            log(
                String(
                    format: "step %d/%d  loss %.5f  %.1f samples/s  %.2f s/step", s, options.steps, last,
                    Double(done * options.batch) / max(el, 1e-9), el / Double(done))
                    + "  elapsed \(formatDuration(el))  ETA \(formatDuration(eta))")
            window = 0
            wn = 0
        }
        if let cp = options.checkpointPath, options.checkpointEvery > 0, s % options.checkpointEvery == 0 {
            try save(cp)
        }
    }
    return last
}

/// "1h02m03s" / "4m05s" / "6s".
public func formatDuration(_ s: Double) -> String {
    let t = Int(s.rounded())
    if t >= 3600 { return String(format: "%dh%02dm%02ds", t / 3600, (t / 60) % 60, t % 60) }
    if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
    return "\(t)s"
}
