import CSync

#if canImport(Glibc)
    import Glibc
#endif

// Packing B for the GEMM: the layout the register tile streams (GEMMTiles.swift,
// GEMMTiles16.swift). The tile's column width is the panel width, so each tile shape is a
// `PanelFormat` and its own kernel, and every caller packs and multiplies through
// `PackedMatrix` without knowing which.

/// How a tile wants B: panels of `width` columns, each k x width contiguous floats, the last
/// zero-padded.
public struct PanelFormat: Sendable, Equatable, CustomStringConvertible {
    public let width: Int
    /// Rows of the tile's tall form (then 4-row tiles, then 1-row tiles take the rest).
    public let tallRows: Int
    /// What `bench`, `topology` and `PATCHRNN_TILE` call it.
    public let name: String
    /// The 6 x 16 tile of SIMD8 accumulators (16 AVX2 registers).
    public static let simd8x16 = PanelFormat(width: 16, tallRows: 6, name: "simd8")
    /// The 8 x 32 tile of SIMD16 accumulators (32 AVX-512 registers).
    public static let simd16x32 = PanelFormat(width: 32, tallRows: 8, name: "simd16")

    /// Of a product with `m` rows, the rows [first, m) that the 1-row tile takes (none when
    /// the tall and 4-row tiles cover them all).
    @inline(__always)
    public func singleRowTail(m: Int) -> Range<Int> {
        let tallEnd = m / tallRows * tallRows
        return (tallEnd + (m - tallEnd) / 4 * 4)..<m
    }
    public static let all = [simd8x16, simd16x32]

    public var description: String { name }

    /// Floats needed to pack a k x n matrix.
    @inline(__always)
    public func floats(k: Int, n: Int) -> Int { k * ((n + width - 1) / width) * width }

    /// Whether this CPU runs AVX-512 (cpuid, and the OS saves the zmm registers) and the build
    /// targets it (`-target-cpu native` on an AVX2 machine makes SIMD16 code 256-bit pairs).
    public static let cpuHasAVX512 = csync_cpu_has_avx512f() != 0

    /// The first instruction set extension the build targets that this CPU lacks ("avx512f",
    /// ...), or nil. Never anything but nil in a running process: a binary built for another
    /// CPU stops before main with a message instead (Sources/CSync/cpu_check.c).
    public static var missingCPUFeature: String? { csync_missing_cpu_feature().map { String(cString: $0) } }

    /// The instruction set extensions this build targets, in the names `missingCPUFeature` uses.
    public static var buildCPUFeatures: [String] { String(cString: csync_build_cpu_features()).split(separator: " ").map(String.init) }

    /// The tile this process uses unless told otherwise: SIMD16 where the CPU has AVX-512,
    /// SIMD8 elsewhere, chosen at run time from cpuid; `PATCHRNN_TILE=simd8|simd16` in the
    /// environment overrides it (as oneDNN's DNNL_MAX_CPU_ISA does), for comparisons.
    public static let preferred: PanelFormat = {
        if let forced = getenv("PATCHRNN_TILE").map({ String(cString: $0) }), let format = named(forced) { return format }
        return cpuHasAVX512 ? simd16x32 : simd8x16
    }()

    public static func named(_ name: String) -> PanelFormat? { all.first { $0.name == name } }
}

/// A k x n matrix packed into panels, in memory someone else owns: where it is and how to
/// address part of it.
public struct PackedMatrix: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let k: Int
    public let n: Int
    /// Floats from one panel to the next (k x width for a matrix packed on its own).
    public let panelStride: Int
    public let format: PanelFormat

    public init(base: UnsafeMutablePointer<Float>, k: Int, n: Int, panelStride: Int? = nil, format: PanelFormat = .simd8x16) {
        self.base = base
        self.k = k
        self.n = n
        self.panelStride = panelStride ?? k * format.width
        self.format = format
    }

    /// Rows [lower, upper) of this matrix, as a matrix of their own: a GEMM over part of the
    /// reduction, or the place to pack the second of two matrices stacked along k.
    @inline(__always)
    public func rows(_ r: Range<Int>) -> PackedMatrix {
        PackedMatrix(base: base + r.lowerBound * format.width, k: r.count, n: n, panelStride: panelStride, format: format)
    }

    /// Columns [lower, upper) of this matrix (lower a multiple of the panel width): a GEMM
    /// over a block of B's columns.
    @inline(__always)
    public func columns(_ c: Range<Int>) -> PackedMatrix {
        PackedMatrix(base: base + c.lowerBound / format.width * panelStride, k: k, n: c.count, panelStride: panelStride, format: format)
    }

    /// Packs B(r, c) = b[r * rowStride + c * colStride] (r < k, c < n) into this matrix.
    @inline(__always)
    public func pack(_ b: UnsafePointer<Float>, rowStride: Int, colStride: Int = 1) {
        packB(k: k, n: n, b, rowStride: rowStride, colStride: colStride, into: base, panelStride: panelStride, format: format)
    }
}

/// Floats needed to pack a k x n matrix.
@inline(__always)
public func packedCount(k: Int, n: Int, format: PanelFormat = .simd8x16) -> Int { format.floats(k: k, n: n) }

/// Packs B(r, c) = b[r * rowStride + c * colStride] (r < k, c < n) into panels of the format's
/// width. With colStride = 1 this is B as stored; with rowStride = 1 it is the transpose of a
/// stored matrix, so W and W^T both pack straight from the parameter buffer. `panelStride`
/// (default k * width) lets two matrices be stacked along k in one packing: pack the second at
/// dst + k1 * width with the stride of the whole.
public func packB(
    k: Int, n: Int, _ b: UnsafePointer<Float>, rowStride: Int, colStride: Int,
    into dst: UnsafeMutablePointer<Float>, panelStride: Int? = nil, format: PanelFormat = .simd8x16
) {
    let w = format.width
    let panels = (n + w - 1) / w
    let ps = panelStride ?? k * w
    for p in 0..<panels {
        let panel = dst + p * ps
        let c0 = p * w, width = min(w, n - c0)
        if colStride == 1 && width == w {
            for r in 0..<k {
                let src = b + r * rowStride + c0, row = panel + r * w
                var c = 0
                while c < w {
                    store8(load8(src + c), row + c)
                    c += 8
                }
            }
        } else {
            for r in 0..<k {
                let row = panel + r * w
                for c in 0..<width { row[c] = b[r * rowStride + (c0 + c) * colStride] }
                for c in width..<w { row[c] = 0 }
            }
        }
    }
}
