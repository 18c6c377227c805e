import XCTest

@testable import FlowTensor

/// The OpenBLAS core decision as a pure function of injected CPU flags, detected core, build config and environment.
final class BLASCoreSelectionTests: XCTestCase {
    let avx512: Set<String> = ["sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "amx_tile"]
    let avx2: Set<String> = ["sse2", "avx", "avx2", "fma"]
    let sse: Set<String> = ["sse2", "sse4_2"]
    let dynamic = "OpenBLAS 0.3.21  DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64"

    func decide(
        _ flags: Set<String>, _ core: String, _ env: [String: String] = [:],
        config: String? = nil
    ) -> BLASCoreSelection.Action {
        BLASCoreSelection.decide(cpuFlags: flags, detectedCore: core, config: config ?? dynamic, environment: env)
    }

    func isKeep(_ a: BLASCoreSelection.Action) -> Bool { if case .keep = a { return true } else { return false } }

    func testWeakDetectionOnAVX512XeonSelectsSkylakeX() {
        // Family 6 model 207 (Emerald Rapids) with Debian's 0.3.21: generic Prescott kernels.
        XCTAssertEqual(decide(avx512, "Prescott"), .select(core: "SkylakeX"))
        XCTAssertEqual(decide(avx512, "Haswell"), .select(core: "SkylakeX"), "AVX2 kernels on an AVX-512 CPU")
        XCTAssertEqual(decide(avx512, "Sandybridge"), .select(core: "SkylakeX"))
        XCTAssertEqual(
            decide(avx512, "Prescott", ["OPENBLAS_CORETYPE": ""]), .select(core: "SkylakeX"),
            "an empty variable counts as unset")
        XCTAssertEqual(decide(avx512, "Prescott", ["FLOWTURBO_BLAS_CORE": "auto"]), .select(core: "SkylakeX"))
    }

    func testWeakDetectionOnAVX2SelectsHaswell() {
        XCTAssertEqual(decide(avx2, "Prescott"), .select(core: "Haswell"))
        XCTAssertEqual(decide(avx2, "Nehalem"), .select(core: "Haswell"))
        XCTAssertEqual(decide(avx2, "Piledriver"), .select(core: "Haswell"))
    }

    func testGoodOrUnknownDetectionIsKept() {
        for core in ["SkylakeX", "Cooperlake", "SapphireRapids"] { XCTAssertTrue(isKeep(decide(avx512, core)), core) }
        XCTAssertTrue(isKeep(decide(avx2, "Haswell")))
        XCTAssertTrue(isKeep(decide(avx2, "Zen")))
        XCTAssertTrue(isKeep(decide(sse, "Prescott")), "nothing faster without AVX2 + FMA")
        XCTAssertTrue(isKeep(decide(avx512, "NeoverseN1")), "an unknown core name is left alone")
    }

    func testUserValueOptOutMarkerAndFixedBuildsAreNeverOverridden() {
        let user = decide(avx512, "Prescott", ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertEqual(user, .keep(reason: "OPENBLAS_CORETYPE=Prescott from the environment"))
        XCTAssertTrue(isKeep(decide(avx512, "Prescott", ["FLOWTURBO_BLAS_CORE": "keep"])))
        XCTAssertTrue(isKeep(decide(avx512, "Prescott", ["FLOWTURBO_BLAS_CORE": "KEEP"])))
        // After the re-exec: the marker and the variable are set, so it never loops (even if OpenBLAS ignored it).
        let marked = ["OPENBLAS_CORETYPE": "SkylakeX", "FLOWTURBO_BLAS_CORE_DETECTED": "Prescott"]
        let again = decide(avx512, "Prescott", marked)
        guard case .keep(let reason) = again else { return XCTFail("re-executed process must keep") }
        XCTAssertTrue(reason.contains("selected by flowturbo; OpenBLAS detected Prescott"), reason)
        let fixed = decide(avx512, "Prescott", config: "OpenBLAS 0.3.21 NO_AFFINITY Prescott MAX_THREADS=64")
        XCTAssertTrue(isKeep(fixed), "without DYNAMIC_ARCH OPENBLAS_CORETYPE does nothing")
    }

    func testExplicitCoreRequest() {
        XCTAssertEqual(decide(avx512, "Cooperlake", ["FLOWTURBO_BLAS_CORE": "Haswell"]), .select(core: "Haswell"))
        XCTAssertTrue(isKeep(decide(avx512, "Haswell", ["FLOWTURBO_BLAS_CORE": "haswell"])), "already that core")
        guard case .keep(let reason) = decide(avx512, "Prescott", ["FLOWTURBO_BLAS_CORE": "Fastest"]) else {
            return XCTFail("an unknown request must not re-execute")
        }
        XCTAssertTrue(reason.contains("FLOWTURBO_BLAS_CORE=Fastest"), reason)
        let both = ["FLOWTURBO_BLAS_CORE": "Haswell", "OPENBLAS_CORETYPE": "Zen"]
        XCTAssertTrue(isKeep(decide(avx512, "Prescott", both)), "the user's OPENBLAS_CORETYPE wins")
    }

    func testTiersAndBestCore() {
        XCTAssertEqual(BLASCoreSelection.bestCore(cpuFlags: avx512), "SkylakeX")
        XCTAssertEqual(BLASCoreSelection.bestCore(cpuFlags: avx2), "Haswell")
        XCTAssertNil(BLASCoreSelection.bestCore(cpuFlags: ["avx2"]), "AVX2 without FMA has no Haswell kernels")
        XCTAssertLessThan(BLASCoreSelection.tier(ofCore: "Prescott")!, BLASCoreSelection.tier(ofCore: "Haswell")!)
        XCTAssertLessThan(BLASCoreSelection.tier(ofCore: "Haswell")!, BLASCoreSelection.tier(ofCore: "SkylakeX")!)
        XCTAssertNotNil(BLASCoreSelection.tier(ofCore: Gemm.backend.core), "this machine's core is known")
    }

    func testSummaryNamesBothKernelFamilies() {
        let s = BLASCoreSelection.kernelSummary()
        let gemm = Gemm.library == .onednn ? "oneDNN " : "OpenBLAS \(Gemm.backend.core) kernels ("
        XCTAssertTrue(s.hasPrefix(gemm), s)
        XCTAssertTrue(s.hasSuffix("elementwise \(ElementwiseKernels.active)"), s)
    }
}
