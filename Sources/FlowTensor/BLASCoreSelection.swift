import Foundation

/// Chooses OpenBLAS's kernel family when its own detection is weaker than the CPU's vector unit.
///
/// Debian's OpenBLAS 0.3.21 does not know recent Xeons (e.g. family 6 model 207) and runs its generic `Prescott` SSE
/// kernels there, about 5× slower than `SkylakeX`. OpenBLAS reads `OPENBLAS_CORETYPE` only when the library loads,
/// so the CLI re-executes itself once with the variable set (`applyAtStartup`). A user's `OPENBLAS_CORETYPE` always
/// wins (some machines set it on purpose); `FLOWTURBO_BLAS_CORE=keep` keeps OpenBLAS's own choice, and
/// `FLOWTURBO_BLAS_CORE=<core>` (e.g. `Haswell`) asks for that core.
public enum BLASCoreSelection {
    /// Opt-out / override: `auto` (default), `keep`, or an OpenBLAS core name.
    public static let controlVariable = "FLOWTURBO_BLAS_CORE"
    /// Set on the re-executed process: the core OpenBLAS detected before flowturbo chose another one.
    public static let markerVariable = "FLOWTURBO_BLAS_CORE_DETECTED"
    /// OpenBLAS's own variable.
    public static let coreVariable = "OPENBLAS_CORETYPE"

    public enum Action: Equatable, Sendable {
        /// Leave OpenBLAS as it is; `reason` says why (for the kernel report).
        case keep(reason: String)
        /// Set OPENBLAS_CORETYPE to `core` and re-execute.
        case select(core: String)
    }

    /// Vector tier of an OpenBLAS x86-64 core name (3 AVX-512, 2 AVX2+FMA, 1 AVX, 0 SSE), nil when unknown.
    public static func tier(ofCore name: String) -> Int? {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": 3
        case "haswell", "zen": 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": 1
        case "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn", "dunnington",
            "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano", "bobcat":
            0
        default: nil
        }
    }

    /// The core matching the CPU's vector unit (from /proc/cpuinfo flags), nil below AVX2 + FMA.
    public static func bestCore(cpuFlags: Set<String>) -> String? {
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The decision, a pure function of the CPU flags, OpenBLAS's detected core and build configuration, and the
    /// environment (unit tested with injected values).
    public static func decide(
        cpuFlags: Set<String>, detectedCore: String, config: String,
        environment env: [String: String]
    ) -> Action {
        if let from = env[markerVariable], !from.isEmpty, env[coreVariable] != nil {
            return .keep(reason: "selected by flowturbo; OpenBLAS detected \(from), \(controlVariable)=keep keeps it")
        }
        if let user = env[coreVariable], !user.isEmpty {
            return .keep(reason: "\(coreVariable)=\(user) from the environment")
        }
        let control = env[controlVariable] ?? "auto"
        if control.lowercased() == "keep" { return .keep(reason: "detected by OpenBLAS; \(controlVariable)=keep") }
        guard config.contains("DYNAMIC_ARCH") else {
            return .keep(reason: "OpenBLAS built for one core (no DYNAMIC_ARCH)")
        }
        if control.lowercased() != "auto" && !control.isEmpty {
            guard tier(ofCore: control) != nil else {
                return .keep(
                    reason: "detected by OpenBLAS; \(controlVariable)=\(control) is not auto, keep "
                        + "or a known core such as SkylakeX or Haswell")
            }
            return control.lowercased() == detectedCore.lowercased()
                ? .keep(reason: "detected by OpenBLAS") : .select(core: control)
        }
        guard let best = bestCore(cpuFlags: cpuFlags), let want = tier(ofCore: best),
            let have = tier(ofCore: detectedCore), have < want
        else { return .keep(reason: "detected by OpenBLAS") }
        return .select(core: best)
    }

    /// The decision for this process.
    public static func currentDecision() -> Action {
        decide(
            cpuFlags: Gemm.cpuInfoFlags(), detectedCore: Gemm.backend.core, config: Gemm.backend.config,
            environment: ProcessInfo.processInfo.environment)
    }

    /// Call first in `main`: when the decision is to select a core, sets OPENBLAS_CORETYPE and the marker and
    /// re-executes the same binary with the same arguments (OpenBLAS then loads with that core). Returns only when
    /// nothing is to be done or the re-exec failed (then OpenBLAS's own choice stays, with a note on stderr).
    public static func applyAtStartup() {
        guard case .select(let core) = currentDecision() else { return }
        setenv(coreVariable, core, 1)
        setenv(markerVariable, Gemm.backend.core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        let why = String(cString: strerror(errno))
        unsetenv(coreVariable)
        unsetenv(markerVariable)
        let note = "note: cannot re-execute to select OpenBLAS \(core) kernels (\(why)); running \(Gemm.backend.core)\n"
        FileHandle.standardError.write(Data(note.utf8))
    }

    /// One line naming the GEMM and elementwise kernels that run, e.g.
    /// `OpenBLAS SkylakeX kernels (selected by flowturbo; OpenBLAS detected Prescott, …), elementwise AVX-512`, or
    /// `oneDNN 2.6.3 sgemm (OpenBLAS … not used for products), elementwise AVX-512` with FLOWTURBO_GEMM=onednn.
    public static func kernelSummary() -> String {
        let reason: String
        switch currentDecision() {
        case .keep(let r): reason = r
        case .select(let core): reason = "detected by OpenBLAS; \(core) would be faster (re-execution did not happen)"
        }
        let blas = "OpenBLAS \(Gemm.backend.core) kernels (\(reason))"
        let gemm = Gemm.library == .onednn ? "oneDNN \(Gemm.oneDNNVersion) sgemm (\(blas) not used for products)" : blas
        return gemm + ", elementwise \(ElementwiseKernels.active)"
    }
}
