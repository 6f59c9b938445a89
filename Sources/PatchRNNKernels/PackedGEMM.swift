// GEMM with B packed into column panels (Packing.swift): B[k x n] stored as ceil(n/w) panels,
// each k x w contiguous floats (w the panel width of the tile), the last panel zero-padded.
// The micro-kernel then streams B sequentially. Unpacked, a block of B's columns with a row
// stride of 1 KiB (4H = 256 floats) maps every row to the same few L1 sets and misses;
// packed, the panel stays in L1 while the rows of A go by. The model's weights are packed
// once per optimizer step and reused by every time step and shard; the activation gradients
// (B of the weight-gradient GEMMs) are packed once per layer per shard, which costs 1/(2m) of
// the GEMM's work.

/// A register tile family: a tall tile, a 4-row and a 1-row tile over panels `width` wide
/// (their bodies: GEMMTiles.swift, GEMMTiles16.swift).
protocol RegisterTile {
    static var width: Int { get }
    static var tallRows: Int { get }
    static func tall(
        k: Int, a: UnsafePointer<Float>, ars: Int, acs: Int, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool)
    static func four(
        k: Int, a: UnsafePointer<Float>, ars: Int, acs: Int, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool)
    static func one(
        k: Int, a: UnsafePointer<Float>, acs: Int, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, accumulate: Bool)
    static func oneSequential(
        k: Int, a: UnsafePointer<Float>, acs: Int, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, accumulate: Bool)
}

/// How a GEMM computes the rows left over after its tall and 4-row tiles.
public enum RowTails: Sendable {
    /// The 1-row tile with two chains over even and odd k (faster for a lone row). A row's
    /// result then depends on whether it falls in a tail: right for products whose row count
    /// is fixed by the model (weight gradients, a generation chunk).
    case split
    /// Every row as the plain k-ordered sum, as the tall and 4-row tiles compute it, so each
    /// row's result is the same wherever it falls: for the per-sequence products of a block of
    /// shards, whose row count depends on how many shards a worker takes at once.
    case sequential
}

/// 6 x 16 of SIMD8 (AVX2), 16-column panels.
enum Tile8x16: RegisterTile {
    static var width: Int { 16 }
    static var tallRows: Int { 6 }
}

/// 8 x 32 of SIMD16 (AVX-512), 32-column panels.
enum Tile16x32: RegisterTile {
    static var width: Int { 32 }
    static var tallRows: Int { 8 }
}

/// C[m x n] = A * B (or +=) with B packed by `packB` in `format`. A(i, p) = a[i * aRowStride + p * aColStride].
/// `panelStride` is the distance between panels (default k * width); a larger one lets a GEMM
/// use rows [r0, r0 + k) of a matrix packed with more rows (pass packedB + r0 * width).
public func gemmPacked(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
    packedB: UnsafePointer<Float>, panelStride: Int? = nil,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool, format: PanelFormat = .simd8x16, tails: RowTails = .split
) {
    if format == .simd16x32 {
        gemmPanels(
            Tile16x32.self, m: m, n: n, k: k, a: a, aRowStride: aRowStride, aColStride: aColStride,
            packedB: packedB, panelStride: panelStride ?? k * 32, c: c, ldc: ldc, accumulate: accumulate, tails: tails)
    } else {
        gemmPanels(
            Tile8x16.self, m: m, n: n, k: k, a: a, aRowStride: aRowStride, aColStride: aColStride,
            packedB: packedB, panelStride: panelStride ?? k * 16, c: c, ldc: ldc, accumulate: accumulate, tails: tails)
    }
}

func gemmPanels<T: RegisterTile>(
    _ tile: T.Type, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
    packedB: UnsafePointer<Float>, panelStride ps: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool, tails: RowTails
) {
    let w = T.width, tall = T.tallRows
    if m == 0 || n == 0 { return }
    if k == 0 {
        if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    // Long reductions go in blocks of 256 so that a panel block (16-32 KiB) stays in L1 next
    // to the rows of A. The model's products have k <= 256 except with very large shards.
    let kc = 256
    if k > kc {
        var k0 = 0
        while k0 < k {
            let kb = min(kc, k - k0)
            gemmPanels(
                tile, m: m, n: n, k: kb, a: a + k0 * aColStride, aRowStride: aRowStride, aColStride: aColStride,
                packedB: packedB + k0 * w, panelStride: ps, c: c, ldc: ldc, accumulate: accumulate || k0 > 0, tails: tails)
            k0 += kb
        }
        return
    }
    let fullPanels = n / w
    for p in 0..<fullPanels {
        let b = packedB + p * ps
        var i = 0
        while i + tall <= m {
            T.tall(
                k: k, a: a + i * aRowStride, ars: aRowStride, acs: aColStride,
                b: b, c: c + i * ldc + p * w, ldc: ldc, accumulate: accumulate)
            i += tall
        }
        while i + 4 <= m {
            T.four(
                k: k, a: a + i * aRowStride, ars: aRowStride, acs: aColStride,
                b: b, c: c + i * ldc + p * w, ldc: ldc, accumulate: accumulate)
            i += 4
        }
        while i < m {
            if tails == .split {
                T.one(k: k, a: a + i * aRowStride, acs: aColStride, b: b, c: c + i * ldc + p * w, accumulate: accumulate)
            } else {
                T.oneSequential(k: k, a: a + i * aRowStride, acs: aColStride, b: b, c: c + i * ldc + p * w, accumulate: accumulate)
            }
            i += 1
        }
    }
    let width = n - fullPanels * w
    if width == 0 { return }
    // Last, partial panel: full-width tiles into a scratch tile on the stack, then the
    // `width` valid columns are copied out (the padding columns of B are zero).
    let b = packedB + fullPanels * ps
    let c0 = fullPanels * w
    withUnsafeTemporaryAllocation(of: Float.self, capacity: tall * w) { scratch in
        let t = scratch.baseAddress!
        var i = 0
        while i < m {
            let rows = min(tall, m - i)
            for r in 0..<rows {
                for j in 0..<w { t[r * w + j] = accumulate && j < width ? c[(i + r) * ldc + c0 + j] : 0 }
            }
            if rows == tall {
                T.tall(k: k, a: a + i * aRowStride, ars: aRowStride, acs: aColStride, b: b, c: t, ldc: w, accumulate: true)
            } else {
                var r = 0
                while r + 4 <= rows {
                    T.four(
                        k: k, a: a + (i + r) * aRowStride, ars: aRowStride, acs: aColStride, b: b, c: t + r * w, ldc: w, accumulate: true)
                    r += 4
                }
                while r < rows {
                    if tails == .split {
                        T.one(k: k, a: a + (i + r) * aRowStride, acs: aColStride, b: b, c: t + r * w, accumulate: true)
                    } else {
                        T.oneSequential(k: k, a: a + (i + r) * aRowStride, acs: aColStride, b: b, c: t + r * w, accumulate: true)
                    }
                    r += 1
                }
            }
            for r in 0..<rows {
                for j in 0..<width { c[(i + r) * ldc + c0 + j] = t[r * w + j] }
            }
            i += rows
        }
    }
}

/// C[m x n] = A * B (or +=) with B a packed matrix (its k rows are the product's k), by the
/// tile its format belongs to.
@inline(__always)
public func gemm(
    m: Int, a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int = 1, b: PackedMatrix,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, tails: RowTails = .split
) {
    gemmPacked(
        m: m, n: b.n, k: b.k, a: a, aRowStride: aRowStride, aColStride: aColStride,
        packedB: b.base, panelStride: b.panelStride, c: c, ldc: ldc, accumulate: accumulate, format: b.format, tails: tails)
}
