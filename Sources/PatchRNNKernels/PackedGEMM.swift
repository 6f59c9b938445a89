// GEMM with B packed into column panels (Packing.swift): B[k x n] stored as ceil(n/16) panels,
// each k x 16 contiguous floats, the last panel zero-padded. The micro-kernel then streams B
// sequentially. Unpacked, a 16-column block of B with a row stride of 1 KiB (4H = 256
// floats) maps every row to the same few L1 sets and misses; packed, the panel stays in L1
// while the rows of A go by. The model's weights are packed once per optimizer step and
// reused by every time step and shard; the activation gradients (B of the weight-gradient
// GEMMs) are packed once per layer per shard, which costs 1/(2m) of the GEMM's work.

/// C[m x n] = A * B (or +=) with B packed by `packB`. A(i, p) = a[i * aRowStride + p * aColStride].
/// `panelStride` is the distance between panels (default k * 16); a larger one lets a GEMM
/// use rows [r0, r0 + k) of a matrix packed with more rows (pass packedB + r0 * 16).
public func gemmPacked(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
    packedB: UnsafePointer<Float>, panelStride: Int? = nil,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool
) {
    let ps = panelStride ?? k * 16
    if m == 0 || n == 0 { return }
    if k == 0 {
        if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    // Long reductions go in blocks of 256 so that a panel block (16 KiB) stays in L1 next to
    // the rows of A. The model's products have k <= 256 except with very large shards.
    let kc = 256
    if k > kc {
        var k0 = 0
        while k0 < k {
            let kb = min(kc, k - k0)
            gemmPacked(m: m, n: n, k: kb, a: a + k0 * aColStride, aRowStride: aRowStride, aColStride: aColStride,
                       packedB: packedB + k0 * 16, panelStride: ps, c: c, ldc: ldc, accumulate: accumulate || k0 > 0)
            k0 += kb
        }
        return
    }
    let fullPanels = n / 16
    for p in 0..<fullPanels {
        let b = packedB + p * ps
        var i = 0
        while i + 6 <= m {
            tile6x16(k: k, a: a + i * aRowStride, ars: aRowStride, acs: aColStride,
                     b: b, ldb: 16, c: c + i * ldc + p * 16, ldc: ldc, accumulate: accumulate)
            i += 6
        }
        if i + 4 <= m {
            tile4x16(k: k, a: a + i * aRowStride, ars: aRowStride, acs: aColStride,
                     b: b, ldb: 16, c: c + i * ldc + p * 16, ldc: ldc, accumulate: accumulate)
            i += 4
        }
        while i < m {
            tile1x16(k: k, a: a + i * aRowStride, acs: aColStride, b: b, ldb: 16, c: c + i * ldc + p * 16, accumulate: accumulate)
            i += 1
        }
    }
    let width = n - fullPanels * 16
    if width == 0 { return }
    // Last, partial panel: full 16-wide tiles into a 6 x 16 scratch on the stack, then the
    // `width` valid columns are copied out (the padding columns of B are zero).
    let b = packedB + fullPanels * ps
    let c0 = fullPanels * 16
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 96) { scratch in
        let t = scratch.baseAddress!
        var i = 0
        while i < m {
            let rows = min(6, m - i)
            for r in 0..<rows {
                for j in 0..<16 { t[r * 16 + j] = accumulate && j < width ? c[(i + r) * ldc + c0 + j] : 0 }
            }
            if rows == 6 {
                tile6x16(k: k, a: a + i * aRowStride, ars: aRowStride, acs: aColStride, b: b, ldb: 16, c: t, ldc: 16, accumulate: true)
            } else {
                for r in 0..<rows {
                    tile1x16(k: k, a: a + (i + r) * aRowStride, acs: aColStride, b: b, ldb: 16, c: t + r * 16, accumulate: true)
                }
            }
            for r in 0..<rows {
                for j in 0..<width { c[(i + r) * ldc + c0 + j] = t[r * 16 + j] }
            }
            i += rows
        }
    }
}

/// C[m x n] = A * B (or +=) with B a packed matrix (its k rows are the product's k).
@inline(__always)
public func gemm(m: Int, a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int = 1, b: PackedMatrix,
                 c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    gemmPacked(m: m, n: b.n, k: b.k, a: a, aRowStride: aRowStride, aColStride: aColStride,
               packedB: b.base, panelStride: b.panelStride, c: c, ldc: ldc, accumulate: accumulate)
}
