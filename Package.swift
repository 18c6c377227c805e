// swift-tools-version:6.0
import PackageDescription

/// flowturbo: fast FlowTurbo sampling of flow-matching generators, sharded over ZeroMQ.
///
/// Targets follow the data path (see README "Code map"): C shims → FlowTensor → FlowModels →
/// FlowSampler / FlowTraining → FlowStats → FlowZMQ → FlowCluster → FlowApp (run use cases) → the `flowturbo` CLI.
///
/// No `platforms:` line: the package builds on Linux only (glibc calls such as `flock`/`realpath` through Glibc,
/// OpenBLAS/LAPACKE/libzmq via pkg-config, AVX kernels selected for x86-64 Linux); claiming macOS would be untrue.
let v5: [SwiftSetting] = [.swiftLanguageMode(.v5)]
/// Swift 6 language mode (data-race checking as errors) for the targets that compile in it; docs/swift6.md lists
/// which others already pass the check and the first errors of the rest.
let v6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "flowturbo",
    products: [
        .executable(name: "flowturbo", targets: ["flowturbo"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // Live operations: Prometheus text at /metrics (swift-prometheus, on swift-metrics' CoreMetrics) over NIO HTTP/1.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        // SHA-256 of model files, journals and refiner ties (Crypto.SHA256: BoringSSL's assembly on Linux).
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // Thin system-library shims: a modulemap and one header each.
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CLAPACKE", pkgConfig: "lapacke",
            providers: [.apt(["liblapacke-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CZeroMQ", pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]),
        // Test-only malloc counter (interposes malloc/free through glibc's __libc_* entry points).
        .target(name: "CAllocCounter"),
        // Elementwise kernels (GELU, softmax, LayerNorm, adaLN) compiled for SSE2, AVX2 and AVX-512, chosen at run time.
        .target(name: "CFlowKernels"),

        .target(name: "FlowTensor", dependencies: ["COpenBLAS", "CZlib", "CFlowKernels"], swiftSettings: v5),
        .target(
            name: "FlowModels",
            dependencies: [
                "FlowTensor", .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: v5),
        .target(name: "FlowSampler", dependencies: ["FlowModels", "FlowTensor"], swiftSettings: v5),
        .target(name: "FlowText", dependencies: ["FlowTensor", "FlowModels"], swiftSettings: v5),
        .target(name: "FlowTraining", dependencies: ["FlowModels", "FlowTensor"], swiftSettings: v5),
        .target(
            name: "FlowStats",
            dependencies: [
                "FlowTensor", "CLAPACKE",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ], swiftSettings: v5),
        .target(
            name: "FlowProto",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf")
            ], swiftSettings: v6),
        // The ZeroMQ layer: context, sockets, poll, the actor primitive, CURVE keys and the ZAP authenticator.
        .target(name: "FlowZMQ", dependencies: ["CZeroMQ", "FlowTensor"], swiftSettings: v5),
        .target(
            name: "FlowCluster",
            dependencies: [
                "FlowSampler", "FlowStats", "FlowProto", "FlowText", "FlowZMQ", "CZeroMQ",
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: v5),
        // Prometheus registry fed by a running coordinator and the small NIO HTTP server answering GET /metrics.
        .target(
            name: "FlowMetrics",
            dependencies: [
                "FlowCluster", "FlowStats", "FlowTensor",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ], swiftSettings: v5),
        // Fuzz targets and the scripted protocol peer (`flowturbo fuzz`, trust-path tests).
        .target(
            name: "FlowFuzz",
            dependencies: [
                "FlowCluster", "FlowZMQ", "FlowProto", "FlowSampler", "FlowTensor", "FlowModels", "CZeroMQ",
            ], swiftSettings: v5),
        // The application layer: run resolution, overwrite, the exposure rule, finishing a run, report defaults.
        .target(
            name: "FlowApp",
            dependencies: [
                "FlowCluster", "FlowModels", "FlowSampler", "FlowStats", "FlowTensor", "FlowText", "FlowTraining",
            ], swiftSettings: v6),
        .executableTarget(
            name: "flowturbo",
            dependencies: [
                "FlowTensor", "FlowModels", "FlowSampler", "FlowTraining", "FlowStats", "FlowCluster", "FlowFuzz",
                "FlowText",
                "FlowApp", "FlowMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: v5),

        // Shared by the test targets: independent float64 references, the built binary, temp dirs and free ports.
        .target(
            name: "FlowTestSupport", dependencies: ["FlowModels", "FlowTensor"], path: "Tests/Support",
            swiftSettings: v6),
        .testTarget(name: "FlowTensorTests", dependencies: ["FlowTensor"], swiftSettings: v5),
        .testTarget(
            name: "FlowModelsTests", dependencies: ["FlowModels", "FlowTensor", "CAllocCounter", "FlowTestSupport"],
            swiftSettings: v5),
        .testTarget(
            name: "FlowSamplerTests", dependencies: ["FlowSampler", "FlowModels", "FlowTensor", "CAllocCounter"],
            swiftSettings: v5),
        .testTarget(
            name: "FlowTrainingTests", dependencies: ["FlowTraining", "FlowModels", "FlowTensor", "FlowTestSupport"],
            swiftSettings: v5),
        .testTarget(
            name: "FlowStatsTests", dependencies: ["FlowStats", "FlowTensor", "FlowTestSupport"],
            resources: [.copy("Fixtures")], swiftSettings: v5),
        .testTarget(
            name: "FlowClusterTests",
            dependencies: [
                "FlowCluster", "FlowZMQ", "FlowFuzz", "FlowProto", "FlowSampler", "FlowText", "FlowTestSupport",
            ],
            exclude: ["cpeer"], swiftSettings: v5),
        .testTarget(
            name: "FlowMetricsTests", dependencies: ["FlowMetrics", "FlowCluster", "FlowStats", "FlowTestSupport"],
            swiftSettings: v5),
        .testTarget(
            name: "FlowTextTests", dependencies: ["FlowText", "FlowTensor"],
            resources: [.copy("Fixtures")], swiftSettings: v5),
        .testTarget(
            name: "FlowAppTests", dependencies: ["FlowApp", "FlowCluster", "FlowTestSupport"], swiftSettings: v6),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "FlowTensor", "FlowModels", "FlowSampler", "FlowProto", "FlowCluster", "FlowFuzz", "FlowApp",
                "FlowTestSupport",
            ], swiftSettings: v5),
    ]
)
