// swift-tools-version:6.1
import PackageDescription

// The kernel benchmarks, on ordo-one's package-benchmark (statistics over many iterations,
// percentiles, malloc and ARC counts, saved baselines, threshold checks). A package of its own
// beside the project's, so that the benchmark harness and its dependencies (about 1.5 minutes
// of a fresh release build on 2 cores) are built only by `swift package benchmark`, never by
// `swift build` or `scripts/test.sh`. From the repository root:
//   swift package --package-path Benchmarks benchmark
// (README, "Kernel benchmarks"). The sources live in Benchmarks/Benchmarks/<target>, where the
// harness's plugin looks for them.
let package = Package(
    name: "PatchRNNBenchmarks",
    dependencies: [
        .package(name: "PatchRNN", path: ".."),
        // (formerly ordo-one/package-benchmark.) MallocInterposer: the malloc counts. Its other
        // default trait, RuntimeInterposer, would fetch swift-runtime-interposer, which Swift
        // 6.3 on Linux needs for ARC counts in code that retains (Kernels.swift says more).
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Kernels",
            dependencies: [
                .product(name: "PatchRNN", package: "PatchRNN"),
                .product(name: "PatchRNNKernels", package: "PatchRNN"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Kernels",
            // Language mode 5 as the harness's own targets (benchmark closures capture raw
            // pointers); the project's CPU flags (its Package.swift says why).
            swiftSettings: [.swiftLanguageMode(.v5), .unsafeFlags(["-target-cpu", "native", "-Xcc", "-fno-math-errno"])],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
