// swift-tools-version:6.0
import PackageDescription

/// flowturbo: fast FlowTurbo sampling of flow-matching generators, sharded over ZeroMQ.
///
/// Targets follow the data path (see README "Code map"): C shims → FlowTensor → FlowModels →
/// FlowSampler / FlowTraining → FlowStats → FlowCluster → the `flowturbo` CLI.
let v5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "flowturbo",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "flowturbo", targets: ["flowturbo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // Live operations: Prometheus text at /metrics (swift-prometheus, on swift-metrics' CoreMetrics) over NIO HTTP/1.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        // Thin system-library shims: a modulemap and one header each.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLAPACKE", pkgConfig: "lapacke",
                       providers: [.apt(["liblapacke-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq",
                       providers: [.apt(["libzmq3-dev"])]),
        // Test-only malloc counter (interposes malloc/free through glibc's __libc_* entry points).
        .target(name: "CAllocCounter"),
        // Elementwise kernels (GELU, softmax, LayerNorm, adaLN) compiled for SSE2, AVX2 and AVX-512, chosen at run time.
        .target(name: "CFlowKernels"),
        // SHA-256 of model files in C: digests of 100 MB weights stay under a second in debug builds.
        .target(name: "CSHA256"),

        .target(name: "FlowTensor", dependencies: ["COpenBLAS", "CZlib", "CFlowKernels"], swiftSettings: v5),
        .target(name: "FlowModels", dependencies: ["FlowTensor", "CSHA256"], swiftSettings: v5),
        .target(name: "FlowSampler", dependencies: ["FlowModels", "FlowTensor"], swiftSettings: v5),
        .target(name: "FlowText", dependencies: ["FlowTensor", "FlowModels"], swiftSettings: v5),
        .target(name: "FlowTraining", dependencies: ["FlowModels", "FlowTensor"], swiftSettings: v5),
        .target(name: "FlowStats", dependencies: [
            "FlowTensor", "CLAPACKE",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ], swiftSettings: v5),
        .target(name: "FlowProto", dependencies: [
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], swiftSettings: v5),
        .target(name: "FlowCluster", dependencies: [
            "FlowSampler", "FlowStats", "FlowProto", "FlowText", "CZeroMQ",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: v5),
        // Prometheus registry fed by a running coordinator and the small NIO HTTP server answering GET /metrics.
        .target(name: "FlowMetrics", dependencies: [
            "FlowCluster", "FlowStats", "FlowTensor",
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: v5),
        .executableTarget(name: "flowturbo", dependencies: [
            "FlowTensor", "FlowModels", "FlowSampler", "FlowTraining", "FlowStats", "FlowCluster", "FlowText", "FlowMetrics",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: v5),

        // Independent float64 references shared by several test targets.
        .target(name: "FlowTestSupport", dependencies: ["FlowModels", "FlowTensor"], path: "Tests/Support", swiftSettings: v5),
        .testTarget(name: "FlowTensorTests", dependencies: ["FlowTensor"], swiftSettings: v5),
        .testTarget(name: "FlowModelsTests", dependencies: ["FlowModels", "FlowTensor", "CAllocCounter", "FlowTestSupport"], swiftSettings: v5),
        .testTarget(name: "FlowSamplerTests", dependencies: ["FlowSampler", "FlowModels", "FlowTensor", "CAllocCounter"], swiftSettings: v5),
        .testTarget(name: "FlowTrainingTests", dependencies: ["FlowTraining", "FlowModels", "FlowTensor", "FlowTestSupport"], swiftSettings: v5),
        .testTarget(name: "FlowStatsTests", dependencies: ["FlowStats", "FlowTensor"],
                    resources: [.copy("Fixtures")], swiftSettings: v5),
        .testTarget(name: "FlowClusterTests", dependencies: ["FlowCluster", "FlowProto", "FlowSampler", "FlowText"],
                    exclude: ["cpeer"], swiftSettings: v5),
        .testTarget(name: "FlowMetricsTests", dependencies: ["FlowMetrics", "FlowCluster", "FlowStats", "FlowTestSupport"],
                    swiftSettings: v5),
        .testTarget(name: "FlowTextTests", dependencies: ["FlowText", "FlowTensor"],
                    resources: [.copy("Fixtures")], swiftSettings: v5),
        .testTarget(name: "EndToEndTests", dependencies: ["FlowTensor", "FlowModels", "FlowProto", "FlowCluster",
                                                     "FlowTestSupport"], swiftSettings: v5),
    ]
)
