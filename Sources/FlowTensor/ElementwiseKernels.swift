import CFlowKernels

/// The instruction-set family of the elementwise kernels (GELU, SiLU, softmax, LayerNorm, adaLN modulation, gated
/// residual). They live in the C target `CFlowKernels`, compiled once per family from one source, and the best family
/// the CPU supports is chosen when the library loads; `FLOWTURBO_KERNELS=sse2|avx2` picks a slower one.
public enum ElementwiseKernels {
    public enum Family: Int, CaseIterable, Sendable, CustomStringConvertible {
        case sse2 = 0
        case avx2 = 1
        case avx512 = 2

        public var description: String {
            switch self {
            case .sse2: "SSE2"
            case .avx2: "AVX2+FMA"
            case .avx512: "AVX-512"
            }
        }
    }

    /// The family the kernels run with now.
    public static var active: Family { Family(rawValue: Int(ft_kernels_isa())) ?? .sse2 }

    /// The best family this CPU supports.
    public static var best: Family { Family(rawValue: Int(ft_kernels_best_isa())) ?? .sse2 }

    /// Every family this CPU can run (tests check the numerics of each).
    public static var supported: [Family] { Family.allCases.filter { $0.rawValue <= best.rawValue } }

    /// Switches the kernels to `family`; false (nothing changed) when the CPU lacks it.
    @discardableResult
    public static func select(_ family: Family) -> Bool { ft_kernels_select(Int32(family.rawValue)) == 0 }
}
