// The AVX-512 register tiles: 8 rows x 32 columns of SIMD16<Float> accumulators, B packed in
// panels of `PanelFormat.simd16x32.width` = 32 columns (PackedGEMM.swift drives them, with the
// same A addressing as GEMMTiles.swift: A(i, p) = a[i * ars + p * acs]).
//
// Why 8 x 32: per k the tile loads 2 zmm of B and broadcasts 8 elements of A for 16 FMAs, so
// a core with two 512-bit FMA units (Xeon) stays FMA-bound (10 loads per 8 cycles, 2 load
// ports), and 16 accumulators cover the FMA latency (4 cycles x 2 units). 16 + 2 + 1 of the 32
// zmm registers. A 14 x 16 tile (14 accumulators, 1 load of B) would need 15 loads per 7
// cycles: load-bound. Shards of 8 and 16 rows are whole 8-row tiles, shards of 4 one 4-row
// tile, which still has 8 independent accumulators. On a CPU without AVX-512 the compiler splits
// every SIMD16 operation into two AVX2 operations: correct (the tests run it everywhere) but
// not fast (32 accumulators do not fit 16 ymm registers), so the run-time choice
// (`PanelFormat.preferred`) only takes this tile where AVX-512 is present.

extension Tile16x32 {
    @inline(__always)
    static func tall(
        k: Int, a: UnsafePointer<Float>, ars: Int, acs: Int,
        b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        let z = V16()
        var c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z
        var c40 = z, c41 = z, c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z
        if accumulate {
            c00 = load16(c)
            c01 = load16(c + 16)
            c10 = load16(c + ldc)
            c11 = load16(c + ldc + 16)
            c20 = load16(c + 2 * ldc)
            c21 = load16(c + 2 * ldc + 16)
            c30 = load16(c + 3 * ldc)
            c31 = load16(c + 3 * ldc + 16)
            c40 = load16(c + 4 * ldc)
            c41 = load16(c + 4 * ldc + 16)
            c50 = load16(c + 5 * ldc)
            c51 = load16(c + 5 * ldc + 16)
            c60 = load16(c + 6 * ldc)
            c61 = load16(c + 6 * ldc + 16)
            c70 = load16(c + 7 * ldc)
            c71 = load16(c + 7 * ldc + 16)
        }
        let a0 = a, a1 = a + ars, a2 = a + 2 * ars, a3 = a + 3 * ars
        let a4 = a + 4 * ars, a5 = a + 5 * ars, a6 = a + 6 * ars, a7 = a + 7 * ars
        var pb = b
        var off = 0
        for _ in 0..<k {
            let b0 = load16(pb), b1 = load16(pb + 16)
            var av = V16(repeating: a0[off])
            c00.addProduct(av, b0)
            c01.addProduct(av, b1)
            av = V16(repeating: a1[off])
            c10.addProduct(av, b0)
            c11.addProduct(av, b1)
            av = V16(repeating: a2[off])
            c20.addProduct(av, b0)
            c21.addProduct(av, b1)
            av = V16(repeating: a3[off])
            c30.addProduct(av, b0)
            c31.addProduct(av, b1)
            av = V16(repeating: a4[off])
            c40.addProduct(av, b0)
            c41.addProduct(av, b1)
            av = V16(repeating: a5[off])
            c50.addProduct(av, b0)
            c51.addProduct(av, b1)
            av = V16(repeating: a6[off])
            c60.addProduct(av, b0)
            c61.addProduct(av, b1)
            av = V16(repeating: a7[off])
            c70.addProduct(av, b0)
            c71.addProduct(av, b1)
            pb += 32
            off += acs
        }
        store16(c00, c)
        store16(c01, c + 16)
        store16(c10, c + ldc)
        store16(c11, c + ldc + 16)
        store16(c20, c + 2 * ldc)
        store16(c21, c + 2 * ldc + 16)
        store16(c30, c + 3 * ldc)
        store16(c31, c + 3 * ldc + 16)
        store16(c40, c + 4 * ldc)
        store16(c41, c + 4 * ldc + 16)
        store16(c50, c + 5 * ldc)
        store16(c51, c + 5 * ldc + 16)
        store16(c60, c + 6 * ldc)
        store16(c61, c + 6 * ldc + 16)
        store16(c70, c + 7 * ldc)
        store16(c71, c + 7 * ldc + 16)
    }

    @inline(__always)
    static func four(
        k: Int, a: UnsafePointer<Float>, ars: Int, acs: Int,
        b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        let z = V16()
        var c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z
        if accumulate {
            c00 = load16(c)
            c01 = load16(c + 16)
            c10 = load16(c + ldc)
            c11 = load16(c + ldc + 16)
            c20 = load16(c + 2 * ldc)
            c21 = load16(c + 2 * ldc + 16)
            c30 = load16(c + 3 * ldc)
            c31 = load16(c + 3 * ldc + 16)
        }
        let a0 = a, a1 = a + ars, a2 = a + 2 * ars, a3 = a + 3 * ars
        var pb = b
        var off = 0
        for _ in 0..<k {
            let b0 = load16(pb), b1 = load16(pb + 16)
            var av = V16(repeating: a0[off])
            c00.addProduct(av, b0)
            c01.addProduct(av, b1)
            av = V16(repeating: a1[off])
            c10.addProduct(av, b0)
            c11.addProduct(av, b1)
            av = V16(repeating: a2[off])
            c20.addProduct(av, b0)
            c21.addProduct(av, b1)
            av = V16(repeating: a3[off])
            c30.addProduct(av, b0)
            c31.addProduct(av, b1)
            pb += 32
            off += acs
        }
        store16(c00, c)
        store16(c01, c + 16)
        store16(c10, c + ldc)
        store16(c11, c + ldc + 16)
        store16(c20, c + 2 * ldc)
        store16(c21, c + 2 * ldc + 16)
        store16(c30, c + 3 * ldc)
        store16(c31, c + 3 * ldc + 16)
    }

    @inline(__always)
    static func one(
        k: Int, a: UnsafePointer<Float>, acs: Int,
        b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        var c0 = accumulate ? load16(c) : V16(), c1 = accumulate ? load16(c + 16) : V16()
        // Two independent chains per column block hide the FMA latency of a single row.
        var d0 = V16(), d1 = V16()
        var pb = b
        var off = 0
        var p = 0
        while p + 2 <= k {
            let av = V16(repeating: a[off]), aw = V16(repeating: a[off + acs])
            c0.addProduct(av, load16(pb))
            c1.addProduct(av, load16(pb + 16))
            d0.addProduct(aw, load16(pb + 32))
            d1.addProduct(aw, load16(pb + 48))
            pb += 64
            off += 2 * acs
            p += 2
        }
        if p < k {
            let av = V16(repeating: a[off])
            c0.addProduct(av, load16(pb))
            c1.addProduct(av, load16(pb + 16))
        }
        store16(c0 + d0, c)
        store16(c1 + d1, c + 16)
    }

    /// One row, a single chain per column block (see Tile8x16.oneSequential).
    @inline(__always)
    static func oneSequential(
        k: Int, a: UnsafePointer<Float>, acs: Int,
        b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        var c0 = accumulate ? load16(c) : V16(), c1 = accumulate ? load16(c + 16) : V16()
        var pb = b
        var off = 0
        for _ in 0..<k {
            let av = V16(repeating: a[off])
            c0.addProduct(av, load16(pb))
            c1.addProduct(av, load16(pb + 16))
            pb += 32
            off += acs
        }
        store16(c0, c)
        store16(c1, c + 16)
    }
}
