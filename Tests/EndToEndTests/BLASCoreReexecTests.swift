import FlowTensor
import Foundation
import XCTest

/// The real binary's start-up core selection: `FLOWTURBO_BLAS_CORE=<core>` makes it re-execute itself once with
/// OPENBLAS_CORETYPE set (the same path the automatic choice takes), a user's OPENBLAS_CORETYPE always wins, and
/// `keep` leaves OpenBLAS's own detection; the benchmark's kernel line says which kernels ran and why.
final class BLASCoreReexecTests: XCTestCase {
    /// The `kernels:` line of `flowturbo bench model` on a tiny model with `env` added (OpenBLAS variables cleared).
    func kernelLine(_ env: [String: String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.binary)
        p.arguments = ["bench", "model", "--depth", "1", "--batches", "1", "--repeats", "1"]
        var e = ProcessInfo.processInfo.environment
        for k in [BLASCoreSelection.coreVariable, BLASCoreSelection.markerVariable, BLASCoreSelection.controlVariable] {
            e[k] = nil
        }
        for (k, v) in env { e[k] = v }
        p.environment = e
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        return text.split(separator: "\n").first { $0.hasPrefix("kernels: ") }.map(String.init) ?? text
    }

    func testRequestedCoreReexecutesOnceAndUserValueWins() throws {
        let flags = Gemm.cpuInfoFlags()
        guard flags.isSuperset(of: ["avx2", "fma"]), Gemm.backend.config.contains("DYNAMIC_ARCH") else {
            throw XCTSkip("needs an AVX2 CPU and a DYNAMIC_ARCH OpenBLAS")
        }
        let kept = try kernelLine(["FLOWTURBO_BLAS_CORE": "keep"])
        XCTAssertTrue(kept.contains("kernels (detected by OpenBLAS; FLOWTURBO_BLAS_CORE=keep)"), kept)
        let natural = kept.dropFirst("kernels: OpenBLAS ".count).split(separator: " ").first.map(String.init) ?? "?"
        let want = natural.lowercased() == "haswell" ? "Sandybridge" : "Haswell"
        let chosen = try kernelLine(["FLOWTURBO_BLAS_CORE": want])
        let reexec = "kernels: OpenBLAS \(want) kernels (selected by flowturbo; OpenBLAS detected \(natural)"
        XCTAssertTrue(chosen.hasPrefix(reexec), chosen)
        XCTAssertTrue(chosen.hasSuffix("elementwise \(ElementwiseKernels.best)"), chosen)
        let user = try kernelLine(["FLOWTURBO_BLAS_CORE": want, "OPENBLAS_CORETYPE": "Prescott"])
        let userLine = "kernels: OpenBLAS Prescott kernels (OPENBLAS_CORETYPE=Prescott from the environment)"
        XCTAssertTrue(user.hasPrefix(userLine), user)
        let sse = try kernelLine(["FLOWTURBO_KERNELS": "sse2"])
        XCTAssertTrue(sse.hasSuffix("elementwise SSE2"), sse)
    }
}
