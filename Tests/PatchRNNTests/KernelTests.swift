import Foundation
import PatchRNNKernels
import Testing

@testable import PatchRNN

@Suite("SIMD kernels against plain loops")
struct KernelTests {
    /// Naive triple loop in Double: the reference.
    func naive(
        m: Int, n: Int, k: Int, a: [Float], aRowStride: Int, aColStride: Int, b: [Float], ldb: Int, c: [Float], ldc: Int, accumulate: Bool
    ) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var s = accumulate ? Double(c[i * ldc + j]) : 0
                for p in 0..<k { s += Double(a[i * aRowStride + p * aColStride]) * Double(b[p * ldb + j]) }
                out[i * ldc + j] = Float(s)
            }
        }
        return out
    }

    @Test(
        "packed-panel GEMM matches the naive product with each tile: tails, transposed A, row ranges, long k",
        arguments: PanelFormat.all,
        [
            (1, 1, 1), (5, 7, 3), (6, 16, 49), (7, 33, 64), (8, 32, 5), (12, 64, 7), (13, 49, 64),
            (17, 70, 33), (100, 400, 100), (11, 25, 600),
        ])
    func packedGemmMatchesNaive(format: PanelFormat, shape: (Int, Int, Int)) {
        let (m, n, k) = shape, w = format.width
        var rng = SeededRandom(seed: UInt64(m * 7 + n * 3 + k))
        for transposedA in [false, true] {
            for accumulate in [false, true] {
                let lda = (transposedA ? m : k) + 1, ldc = n + 2, skip = 3  // B: use rows skip..<skip+k of a taller matrix
                let a = (0..<((transposedA ? k : m) * lda)).map { _ in rng.uniform(-1, 1) }
                let tall = (0..<((k + skip) * n)).map { _ in rng.uniform(-1, 1) }
                var c = (0..<(m * ldc)).map { _ in rng.uniform(-1, 1) }
                let ars = transposedA ? 1 : lda, acs = transposedA ? lda : 1
                let b = Array(tall[(skip * n)...])
                let expected = naive(
                    m: m, n: n, k: k, a: a, aRowStride: ars, aColStride: acs, b: b, ldb: n, c: c, ldc: ldc, accumulate: accumulate)
                var packed = [Float](repeating: .nan, count: packedCount(k: k + skip, n: n, format: format))
                packed.withUnsafeMutableBufferPointer {
                    packB(k: k + skip, n: n, tall, rowStride: n, colStride: 1, into: $0.baseAddress!, format: format)
                }
                c.withUnsafeMutableBufferPointer { cp in
                    gemmPacked(
                        m: m, n: n, k: k, a: a, aRowStride: ars, aColStride: acs,
                        packedB: packed.withUnsafeBufferPointer { $0.baseAddress! + skip * w },
                        panelStride: (k + skip) * w, c: cp.baseAddress!, ldc: ldc, accumulate: accumulate, format: format)
                }
                let mismatch = worstMismatch(c, expected, Tolerance(absolute: 1e-5 * Double(k), relative: 1e-5))
                #expect(
                    mismatch == nil, "\(format) m=\(m) n=\(n) k=\(k) transposedA=\(transposedA) accumulate=\(accumulate): \(mismatch ?? "")"
                )
            }
        }
    }

    @Test("packing B transposed reads the stored matrix's transpose, in each tile's panels", arguments: PanelFormat.all)
    func packTransposed(format: PanelFormat) {
        let k = 5, n = format.width + 3, w = format.width
        let stored = (0..<(n * k)).map { Float($0) }  // n x k, row-major; B = stored^T
        var packed = [Float](repeating: -1, count: packedCount(k: k, n: n, format: format))
        packed.withUnsafeMutableBufferPointer {
            packB(k: k, n: n, stored, rowStride: 1, colStride: k, into: $0.baseAddress!, format: format)
        }
        for r in 0..<k { for c in 0..<n { #expect(packed[(c / w) * k * w + r * w + c % w] == stored[c * k + r]) } }
        #expect(packed[k * w + 0 * w + 3] == 0, "padding is zero")
    }

    @Test("the tile chosen at run time is one the CPU runs at full width")
    func preferredTile() {
        if ProcessInfo.processInfo.environment["PATCHRNN_TILE"] == nil {
            #expect(PanelFormat.preferred == (PanelFormat.cpuHasAVX512 ? .simd16x32 : .simd8x16))
        }
        // cpuid must agree with what the kernel reports in /proc/cpuinfo.
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            #expect(PanelFormat.cpuHasAVX512 == info.contains(" avx512f"))
        }
    }

    @Test("the start-up check knows what this build targets, and the kernel lists all of it for this CPU")
    func buildTargetsThisCPU() throws {
        // The check reads the extensions the build targets from the compiler; the tests are built
        // for this CPU, so Linux must list every one of them for it (under its own names), and
        // none may be missing. A wrong name, a reversed test or an empty list fails here. (That
        // a build for another CPU stops with the message is checked by hand: docs/usage.md.)
        #if arch(x86_64)
            let built = PanelFormat.buildCPUFeatures
            #expect(built.contains("sse3"), "a native build targets at least SSE3: \(built)")
            let linuxName = [
                "sse3": "pni", "sse4.1": "sse4_1", "sse4.2": "sse4_2", "bmi": "bmi1", "lzcnt": "abm", "pclmul": "pclmulqdq",
                "sha": "sha_ni", "avx512vbmi2": "avx512_vbmi2", "avx512vnni": "avx512_vnni", "avx512bitalg": "avx512_bitalg",
                "avx512vpopcntdq": "avx512_vpopcntdq", "avx512bf16": "avx512_bf16", "avx512fp16": "avx512_fp16", "avxvnni": "avx_vnni",
            ]
            let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
            let flagsLine = try #require(info.split(separator: "\n").first { $0.hasPrefix("flags") })
            let flags = Set(flagsLine.split(separator: " ").map(String.init))
            for feature in built {
                #expect(flags.contains(linuxName[feature] ?? feature), "the build targets \(feature), /proc/cpuinfo does not list it")
            }
        #endif
        #expect(PanelFormat.missingCPUFeature == nil)
    }

    @Test("sigmoid, tanh and exp stay within 1e-6 of Foundation over the whole useful range")
    func activationAccuracy() {
        var worstSigmoid = 0.0, worstTanh = 0.0, worstExpRel = 0.0
        var x = -30.0
        while x <= 30 {
            let f = Float(x)
            worstSigmoid = max(worstSigmoid, abs(Double(fastSigmoid(f)) - 1 / (1 + Foundation.exp(-Double(f)))))
            worstTanh = max(worstTanh, abs(Double(fastTanh(f)) - Foundation.tanh(Double(f))))
            if abs(x) < 80 {
                let e = Foundation.exp(Double(f))
                worstExpRel = max(worstExpRel, abs(Double(fastExp(V8(repeating: f))[0]) - e) / e)
            }
            x += 0.000_37
        }
        #expect(worstSigmoid < 1e-6, "sigmoid max abs error \(worstSigmoid)")
        #expect(worstTanh < 1e-6, "tanh max abs error \(worstTanh)")
        #expect(worstExpRel < 1e-6, "exp max rel error \(worstExpRel)")
        // Saturation: no NaN or Inf far outside the range.
        for v: Float in [-1e30, -200, 200, 1e30] {
            #expect(fastSigmoid(v).isFinite && fastTanh(v).isFinite)
        }
        #expect(fastTanh(Float(100)) == 1 && fastTanh(Float(-100)) == -1)
        // A NaN stays NaN, so numerical faults surface in the loss.
        #expect(fastSigmoid(Float.nan).isNaN && fastTanh(Float.nan).isNaN)
    }

    @Test("the 16-lane activations give bit for bit what the 8-lane ones give, lane by lane")
    func activationWidths() {
        var rng = SeededRandom(seed: 21)
        let special: [Float] = [0, -0, 1e-30, -1e-30, 87, -87, 88, -88, 200, -200, .infinity, -.infinity, .nan, 1, -1, 0.5]
        for round in 0..<4_000 {
            var values = [Float](repeating: 0, count: 16)
            for i in 0..<16 { values[i] = round == 0 ? special[i] : rng.uniform(-20, 20) * (i % 3 == 0 ? 5 : 1) }
            let wide = V16(values), low = V8(values[0..<8]), high = V8(values[8..<16])
            let pairs: [(V16, V8, V8)] = [
                (fastExp(wide), fastExp(low), fastExp(high)), (fastSigmoid(wide), fastSigmoid(low), fastSigmoid(high)),
                (fastTanh(wide), fastTanh(low), fastTanh(high)),
            ]
            for (w, l, h) in pairs {
                for i in 0..<8 {
                    #expect(w[i].bitPattern == l[i].bitPattern || (w[i].isNaN && l[i].isNaN), "lane \(i) of \(values[i])")
                    #expect(w[8 + i].bitPattern == h[i].bitPattern || (w[8 + i].isNaN && h[i].isNaN), "lane \(8 + i) of \(values[8 + i])")
                }
            }
        }
    }

    @Test("grouped gate columns: the permutation, the gate panels, and PyTorch's order as the one-group case")
    func gateLayout() {
        let g = 4, h = 32, k = 5
        let grouped = GateLayout.grouped(gates: g, hidden: h, lanes: 8)
        #expect(!grouped.isStandard && grouped.groups == 4)
        #expect(GateLayout.grouped(gates: 3, hidden: 20, lanes: 8).isStandard, "20 units do not make groups of 8")
        let standard = GateLayout.standard(gates: g, hidden: h)
        // Every column exactly once, and gate/unit found where the formula says.
        let columns = (0..<g).flatMap { gate in (0..<h).map { grouped.column(gate: gate, unit: $0) } }
        #expect(Set(columns) == Set(0..<(g * h)))
        #expect(grouped.column(gate: 2, unit: 9) == 1 * 32 + 2 * 8 + 1)
        #expect((0..<(g * h)).allSatisfy { standard.column(gate: $0 / h, unit: $0 % h) == $0 })
        // Panels: panel u, row r, gate q, lane l = B[r, q * h + u * 8 + l].
        let b = (0..<(k * g * h)).map { Float($0) }
        var panels = [Float](repeating: .nan, count: grouped.panelFloats(k: k))
        panels.withUnsafeMutableBufferPointer { grouped.packPanels(k: k, b, rowStride: g * h, into: $0.baseAddress!) }
        for u in 0..<4 {
            for r in 0..<k {
                for q in 0..<g {
                    for l in 0..<8 {
                        #expect(panels[u * k * 32 + r * 32 + q * 8 + l] == b[r * g * h + q * h + u * 8 + l])
                    }
                }
            }
        }
        var permuted = [Float](repeating: .nan, count: g * h)
        permuted.withUnsafeMutableBufferPointer { grouped.permute(b, into: $0.baseAddress!) }
        for q in 0..<g { for j in 0..<h { #expect(permuted[grouped.column(gate: q, unit: j)] == b[q * h + j]) } }
    }

    @Test("a product's 1-row tail: the rows after its tall and 4-row tiles")
    func singleRowTail() {
        #expect(PanelFormat.simd8x16.singleRowTail(m: 32) == 30..<32)  // 5 x 6, then 2 single rows
        #expect(PanelFormat.simd8x16.singleRowTail(m: 16) == 16..<16)  // 6 + 6 + 4
        #expect(PanelFormat.simd8x16.singleRowTail(m: 7) == 6..<7)
        #expect(PanelFormat.simd16x32.singleRowTail(m: 60) == 60..<60)  // 7 x 8 + 4
        #expect(PanelFormat.simd16x32.singleRowTail(m: 3) == 0..<3)
    }
}
