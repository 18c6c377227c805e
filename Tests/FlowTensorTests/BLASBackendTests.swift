import XCTest

@testable import FlowTensor

/// The OpenBLAS kernel report and the slow-kernel hint (which only ever suggests, never sets, a core type).
final class BLASBackendTests: XCTestCase {
    func testBackendNamesACoreAndConfig() {
        let b = Gemm.backend
        XCTAssertFalse(b.core.isEmpty)
        XCTAssertTrue(b.config.contains("OpenBLAS"), b.config)
    }

    func testHintFollowsCoreAndCPUFlags() {
        let generic = ["prescott", "core2", "nehalem", "atom"].contains(Gemm.backend.core.lowercased())
        let avx512: Set<String> = ["sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
        let avx2: Set<String> = ["sse2", "avx", "avx2", "fma"]
        if generic {
            XCTAssertTrue(Gemm.slowKernelHint(cpuFlags: avx512)?.contains("OPENBLAS_CORETYPE=SkylakeX") == true)
            XCTAssertTrue(Gemm.slowKernelHint(cpuFlags: avx2)?.contains("OPENBLAS_CORETYPE=Haswell") == true)
        } else {
            XCTAssertNil(Gemm.slowKernelHint(cpuFlags: avx512), "OpenBLAS already runs \(Gemm.backend.core) kernels")
        }
        XCTAssertNil(Gemm.slowKernelHint(cpuFlags: ["sse2", "sse4_2"]), "no faster kernels to suggest without AVX2")
        XCTAssertFalse(Gemm.cpuInfoFlags().isEmpty, "/proc/cpuinfo has a flags line on Linux")
    }
}
