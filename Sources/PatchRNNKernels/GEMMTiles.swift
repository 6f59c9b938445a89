// The register tiles of the GEMM (PackedGEMM.swift drives them): raw pointers, no
// allocation, no threads.
//
//     C[rows x 16] (+)= A[rows x k] * B[k x 16]
//
// A is addressed through two strides, A(i, p) = a[i * ars + p * acs], so the same tile serves
// A (ars = lda, acs = 1) and A transposed (ars = 1, acs = lda): the weight gradients X^T dG
// need no transpose copy.
//
// The main tile is 6 rows x 16 columns of SIMD8<Float> accumulators: 12 accumulators, 2 loads
// of B and one broadcast of A per row and k, 15 of the 16 AVX2 registers. Row tails use a
// 4-row and a 1-row version. B comes packed in panels of `PanelFormat.simd8x16.width` = 16
// columns (PackedGEMM.swift).

extension Tile8x16 {
    @inline(__always)
    static func tall(
        k: Int, a: UnsafePointer<Float>, ars: Int, acs: Int,
        b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        let z = V8()
        var c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z
        var c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z
        if accumulate {
            c00 = load8(c)
            c01 = load8(c + 8)
            c10 = load8(c + ldc)
            c11 = load8(c + ldc + 8)
            c20 = load8(c + 2 * ldc)
            c21 = load8(c + 2 * ldc + 8)
            c30 = load8(c + 3 * ldc)
            c31 = load8(c + 3 * ldc + 8)
            c40 = load8(c + 4 * ldc)
            c41 = load8(c + 4 * ldc + 8)
            c50 = load8(c + 5 * ldc)
            c51 = load8(c + 5 * ldc + 8)
        }
        let a0 = a, a1 = a + ars, a2 = a + 2 * ars, a3 = a + 3 * ars, a4 = a + 4 * ars, a5 = a + 5 * ars
        var pb = b
        var off = 0
        for _ in 0..<k {
            let b0 = load8(pb), b1 = load8(pb + 8)
            var av = V8(repeating: a0[off])
            c00.addProduct(av, b0)
            c01.addProduct(av, b1)
            av = V8(repeating: a1[off])
            c10.addProduct(av, b0)
            c11.addProduct(av, b1)
            av = V8(repeating: a2[off])
            c20.addProduct(av, b0)
            c21.addProduct(av, b1)
            av = V8(repeating: a3[off])
            c30.addProduct(av, b0)
            c31.addProduct(av, b1)
            av = V8(repeating: a4[off])
            c40.addProduct(av, b0)
            c41.addProduct(av, b1)
            av = V8(repeating: a5[off])
            c50.addProduct(av, b0)
            c51.addProduct(av, b1)
            pb += width
            off += acs
        }
        store8(c00, c)
        store8(c01, c + 8)
        store8(c10, c + ldc)
        store8(c11, c + ldc + 8)
        store8(c20, c + 2 * ldc)
        store8(c21, c + 2 * ldc + 8)
        store8(c30, c + 3 * ldc)
        store8(c31, c + 3 * ldc + 8)
        store8(c40, c + 4 * ldc)
        store8(c41, c + 4 * ldc + 8)
        store8(c50, c + 5 * ldc)
        store8(c51, c + 5 * ldc + 8)
    }

    @inline(__always)
    static func four(
        k: Int, a: UnsafePointer<Float>, ars: Int, acs: Int,
        b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        let z = V8()
        var c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z
        if accumulate {
            c00 = load8(c)
            c01 = load8(c + 8)
            c10 = load8(c + ldc)
            c11 = load8(c + ldc + 8)
            c20 = load8(c + 2 * ldc)
            c21 = load8(c + 2 * ldc + 8)
            c30 = load8(c + 3 * ldc)
            c31 = load8(c + 3 * ldc + 8)
        }
        let a0 = a, a1 = a + ars, a2 = a + 2 * ars, a3 = a + 3 * ars
        var pb = b
        var off = 0
        for _ in 0..<k {
            let b0 = load8(pb), b1 = load8(pb + 8)
            var av = V8(repeating: a0[off])
            c00.addProduct(av, b0)
            c01.addProduct(av, b1)
            av = V8(repeating: a1[off])
            c10.addProduct(av, b0)
            c11.addProduct(av, b1)
            av = V8(repeating: a2[off])
            c20.addProduct(av, b0)
            c21.addProduct(av, b1)
            av = V8(repeating: a3[off])
            c30.addProduct(av, b0)
            c31.addProduct(av, b1)
            pb += width
            off += acs
        }
        store8(c00, c)
        store8(c01, c + 8)
        store8(c10, c + ldc)
        store8(c11, c + ldc + 8)
        store8(c20, c + 2 * ldc)
        store8(c21, c + 2 * ldc + 8)
        store8(c30, c + 3 * ldc)
        store8(c31, c + 3 * ldc + 8)
    }

    @inline(__always)
    static func one(
        k: Int, a: UnsafePointer<Float>, acs: Int,
        b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        var c0 = accumulate ? load8(c) : V8(), c1 = accumulate ? load8(c + 8) : V8()
        // Two independent chains per column block hide the FMA latency of a single row.
        var d0 = V8(), d1 = V8()
        var pb = b
        var off = 0
        var p = 0
        while p + 2 <= k {
            let av = V8(repeating: a[off]), aw = V8(repeating: a[off + acs])
            c0.addProduct(av, load8(pb))
            c1.addProduct(av, load8(pb + 8))
            d0.addProduct(aw, load8(pb + width))
            d1.addProduct(aw, load8(pb + width + 8))
            pb += 2 * width
            off += 2 * acs
            p += 2
        }
        if p < k {
            let av = V8(repeating: a[off])
            c0.addProduct(av, load8(pb))
            c1.addProduct(av, load8(pb + 8))
        }
        store8(c0 + d0, c)
        store8(c1 + d1, c + 8)
    }

    /// One row with a single chain per column block: each C(i, j) is the plain k-ordered sum,
    /// as in the tall and 4-row tiles, so a row's result does not depend on the tile it falls
    /// in (`RowTails.sequential`). Latency-bound (4 chains), so used only for row tails.
    @inline(__always)
    static func oneSequential(
        k: Int, a: UnsafePointer<Float>, acs: Int,
        b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        var c0 = accumulate ? load8(c) : V8(), c1 = accumulate ? load8(c + 8) : V8()
        var pb = b
        var off = 0
        for _ in 0..<k {
            let av = V8(repeating: a[off])
            c0.addProduct(av, load8(pb))
            c1.addProduct(av, load8(pb + 8))
            pb += width
            off += acs
        }
        store8(c0, c)
        store8(c1, c + 8)
    }
}
