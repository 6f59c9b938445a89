// swift-tools-version:6.1
import PackageDescription

// Two kinds of Swift code, built two ways (docs/performance.md, "Compiler flags", says why):
// - PatchRNNKernels, the hot loops on raw pointers (GEMM tiles, packing, gate functions, cell
//   kernels, Adam's inner loop), is built -Ounchecked: no overflow or bounds checks in loops
//   that run billions of times. Its callers validate every size before calling it.
// - Everything that touches options, files, checkpoints and sizes is built with checks on, so
//   that an overflow traps instead of corrupting memory.
// Both need `-target-cpu native`: without it every lane of a SIMD `addProduct` becomes a libm
// `fmaf` call (about 100x slower), and without `-fno-math-errno` `squareRoot()` is a scalar
// call per lane.
let cpuFlags = ["-target-cpu", "native", "-Xcc", "-fno-math-errno"]
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"] + cpuFlags, .when(configuration: .release)),
    .unsafeFlags(cpuFlags, .when(configuration: .debug)),
]
let checkedFlags: [SwiftSetting] = [.unsafeFlags(cpuFlags)]
let fastC: [CSetting] = [.unsafeFlags(["-O2", "-march=native"])]

let package = Package(
    name: "PatchRNN",
    products: [
        .library(name: "PatchRNN", targets: ["PatchRNN"]),
        // The kernels on their own, for the benchmark package (Benchmarks/Package.swift).
        .library(name: "PatchRNNKernels", targets: ["PatchRNNKernels"]),
        .executable(name: "patchrnn", targets: ["patchrnn"]),
    ],
    // `swift build --traits MPI` adds the Open MPI path; the default build and tests need no
    // MPI. See docs/scaling.md, "MPI across processes and nodes".
    traits: [.trait(name: "MPI", description: "Data parallelism across processes/nodes with Open MPI (needs libopenmpi-dev)")],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .systemLibrary(name: "CHwloc", pkgConfig: "hwloc", providers: [.apt(["libhwloc-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CSync", cSettings: fastC),
        .target(name: "PatchRNNKernels", dependencies: ["CSync"], swiftSettings: kernelFlags),
        .target(
            name: "PatchRNN",
            dependencies: ["PatchRNNKernels", "CHwloc", "CZlib", "CSync", .target(name: "CMPI", condition: .when(traits: ["MPI"]))],
            // report.html's template, style and script, compiled into the tool as byte arrays
            // (nothing to install beside the binary).
            resources: [.embedInCode("Report/report.html"), .embedInCode("Report/report.css"), .embedInCode("Report/report.js")],
            swiftSettings: checkedFlags
        ),
        .executableTarget(
            name: "patchrnn",
            dependencies: ["PatchRNN", "PatchRNNKernels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: checkedFlags
        ),
        .testTarget(
            name: "PatchRNNTests",
            // The tool's module too: its option groups are checked against the settings schema.
            dependencies: ["PatchRNN", "PatchRNNKernels", "patchrnn"],
            exclude: ["Fixtures"],
            swiftSettings: checkedFlags
        ),
    ]
)
