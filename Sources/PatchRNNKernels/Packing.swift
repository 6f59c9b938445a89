// Packing B for the GEMM: the layout the register tile streams (GEMMTiles.swift). The tile's
// column width is the panel width, so a second tile shape is a second `PanelFormat` and its
// own kernel, and every caller packs and multiplies through `PackedMatrix` without knowing it.

/// How a tile wants B: panels of `width` columns, each k x width contiguous floats, the last
/// zero-padded.
public struct PanelFormat: Sendable, Equatable {
    public let width: Int
    /// The SIMD8 6x16 tile (AVX2 registers).
    public static let simd8x16 = PanelFormat(width: 16)

    /// Floats needed to pack a k x n matrix.
    @inline(__always)
    public func floats(k: Int, n: Int) -> Int { k * ((n + width - 1) / width) * width }
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
        packB(k: k, n: n, b, rowStride: rowStride, colStride: colStride, into: base, panelStride: panelStride)
    }
}

/// Floats needed to pack a k x n matrix.
@inline(__always)
public func packedCount(k: Int, n: Int) -> Int { PanelFormat.simd8x16.floats(k: k, n: n) }

/// Packs B(r, c) = b[r * rowStride + c * colStride] (r < k, c < n) into panels. With
/// colStride = 1 this is B as stored; with rowStride = 1 it is the transpose of a stored
/// matrix, so W and W^T both pack straight from the parameter buffer. `panelStride` (default
/// k * 16) lets two matrices be stacked along k in one packing: pack the second at
/// dst + k1 * 16 with the stride of the whole.
public func packB(k: Int, n: Int, _ b: UnsafePointer<Float>, rowStride: Int, colStride: Int,
                  into dst: UnsafeMutablePointer<Float>, panelStride: Int? = nil) {
    let panels = (n + 15) / 16
    let ps = panelStride ?? k * 16
    for p in 0..<panels {
        let panel = dst + p * ps
        let c0 = p * 16, width = min(16, n - c0)
        if colStride == 1 && width == 16 {
            for r in 0..<k {
                let src = b + r * rowStride + c0
                store8(load8(src), panel + r * 16)
                store8(load8(src + 8), panel + r * 16 + 8)
            }
        } else {
            for r in 0..<k {
                let row = panel + r * 16
                for c in 0..<width { row[c] = b[r * rowStride + (c0 + c) * colStride] }
                for c in width..<16 { row[c] = 0 }
            }
        }
    }
}

