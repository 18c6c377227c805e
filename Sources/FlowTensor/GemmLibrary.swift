import CFlowKernels
import COpenBLAS
import Foundation

/// The library behind `Gemm.sgemm`: OpenBLAS (default, linked) or oneDNN's `dnnl_sgemm` (loaded at run time from
/// libdnnl.so.2 when `FLOWTURBO_GEMM=onednn` or `Gemm.select(.onednn)`; Debian package libdnnl2).
public enum GemmLibrary: String, CaseIterable, Sendable, CustomStringConvertible {
    case openblas, onednn

    public static let environmentVariable = "FLOWTURBO_GEMM"

    public var description: String { self == .openblas ? "OpenBLAS" : "oneDNN" }

    /// Whether this library can run here (oneDNN: libdnnl.so.2 loads and has dnnl_sgemm).
    public var isAvailable: Bool { self == .openblas || ft_onednn_load() == 0 }

    /// The library named by FLOWTURBO_GEMM (openblas when unset); oneDNN that cannot load falls back to OpenBLAS with
    /// a one-line note on stderr.
    static func fromEnvironment() -> GemmLibrary {
        guard let name = ProcessInfo.processInfo.environment[environmentVariable], !name.isEmpty else {
            return .openblas
        }
        guard let lib = GemmLibrary(rawValue: name.lowercased()) else {
            note("\(environmentVariable)=\(name) is not openblas or onednn; using OpenBLAS")
            return .openblas
        }
        if lib == .onednn && !lib.isAvailable {
            note(
                "\(environmentVariable)=onednn but oneDNN does not load (\(String(cString: ft_onednn_error()))); "
                    + "using OpenBLAS — install libdnnl2 (apt-get install libdnnl2)")
            return .openblas
        }
        return lib
    }

    private static func note(_ s: String) { FileHandle.standardError.write(Data(("note: " + s + "\n").utf8)) }
}

extension Gemm {
    /// True when `sgemm` runs on oneDNN (read from FLOWTURBO_GEMM on first use, changed by `select`).
    nonisolated(unsafe) static var useOneDNN: Bool = {
        let on = GemmLibrary.fromEnvironment() == .onednn
        if on { ft_onednn_set_threads(openblas_get_num_threads()) }
        return on
    }()

    /// The library `sgemm` runs on now.
    public static var library: GemmLibrary { useOneDNN ? .onednn : .openblas }

    /// Switches `sgemm` to `lib` (not thread-safe against concurrent GEMMs; call between runs).
    public static func select(_ lib: GemmLibrary) throws {
        guard lib.isAvailable else {
            throw FlowError(
                "oneDNN does not load (\(String(cString: ft_onednn_error()))): install libdnnl2 "
                    + "(apt-get install libdnnl2) or use OpenBLAS")
        }
        if lib == .onednn { ft_onednn_set_threads(openblas_get_num_threads()) }
        useOneDNN = lib == .onednn
    }

    /// oneDNN's version ("" unless loaded).
    public static var oneDNNVersion: String { String(cString: ft_onednn_version()) }
}
