// swift-tools-version:6.1
import PackageDescription

// The hot loops are SIMD code on raw pointers. Without `-target-cpu native` every lane of
// `addProduct` becomes a libm `fmaf` call (about 100x slower); without `-fno-math-errno`
// `squareRoot()` is a scalar call per lane. See ../shared/DESIGN.md, "Flags that matter".
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "native", "-Xcc", "-fno-math-errno",
                  "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    .unsafeFlags(["-target-cpu", "native", "-Xcc", "-fno-math-errno"], .when(configuration: .debug)),
]
let fastC: [CSetting] = [.unsafeFlags(["-O2", "-march=native"])]

let package = Package(
    name: "PatchRNN",
    products: [
        .library(name: "PatchRNN", targets: ["PatchRNN"]),
        .executable(name: "patchrnn", targets: ["patchrnn"]),
    ],
    // `swift build --traits MPI` adds the Open MPI path (issue #7); the default build and
    // tests need no MPI. See README, "Past one machine".
    traits: [.trait(name: "MPI", description: "Data parallelism across processes/nodes with Open MPI (needs libopenmpi-dev)")],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CHwloc", pkgConfig: "hwloc", providers: [.apt(["libhwloc-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CSync", cSettings: fastC),
        .target(
            name: "PatchRNN",
            dependencies: ["CHwloc", "CZlib", "CSync", .target(name: "CMPI", condition: .when(traits: ["MPI"]))],
            swiftSettings: fastMath
        ),
        .executableTarget(
            name: "patchrnn",
            dependencies: ["PatchRNN", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: fastMath
        ),
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: ["PatchRNN"],
            path: "Benchmarks/KernelBenchmarks",
            swiftSettings: fastMath
        ),
        .testTarget(
            name: "PatchRNNTests",
            dependencies: ["PatchRNN"],
            exclude: ["Fixtures"],
            swiftSettings: fastMath
        ),
    ]
)
