import Foundation
import Testing
@testable import PatchRNN
import PatchRNNKernels

@Suite("SIMD kernels against plain loops")
struct KernelTests {
    /// Naive triple loop in Double: the reference.
    func naive(m: Int, n: Int, k: Int, a: [Float], aRowStride: Int, aColStride: Int, b: [Float], ldb: Int, c: [Float], ldc: Int, accumulate: Bool) -> [Float] {
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

    @Test("packed-panel GEMM matches the naive product with each tile: tails, transposed A, row ranges, long k",
          arguments: PanelFormat.all, [(1, 1, 1), (5, 7, 3), (6, 16, 49), (7, 33, 64), (8, 32, 5), (12, 64, 7), (13, 49, 64),
                                       (17, 70, 33), (100, 400, 100), (11, 25, 600)])
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
                let expected = naive(m: m, n: n, k: k, a: a, aRowStride: ars, aColStride: acs, b: b, ldb: n, c: c, ldc: ldc, accumulate: accumulate)
                var packed = [Float](repeating: .nan, count: packedCount(k: k + skip, n: n, format: format))
                packed.withUnsafeMutableBufferPointer { packB(k: k + skip, n: n, tall, rowStride: n, colStride: 1, into: $0.baseAddress!, format: format) }
                c.withUnsafeMutableBufferPointer { cp in
                    gemmPacked(m: m, n: n, k: k, a: a, aRowStride: ars, aColStride: acs, packedB: packed.withUnsafeBufferPointer { $0.baseAddress! + skip * w },
                               panelStride: (k + skip) * w, c: cp.baseAddress!, ldc: ldc, accumulate: accumulate, format: format)
                }
                let mismatch = worstMismatch(c, expected, Tolerance(absolute: 1e-5 * Double(k), relative: 1e-5))
                #expect(mismatch == nil, "\(format) m=\(m) n=\(n) k=\(k) transposedA=\(transposedA) accumulate=\(accumulate): \(mismatch ?? "")")
            }
        }
    }

    @Test("packing B transposed reads the stored matrix's transpose, in each tile's panels", arguments: PanelFormat.all)
    func packTransposed(format: PanelFormat) {
        let k = 5, n = format.width + 3, w = format.width
        let stored = (0..<(n * k)).map { Float($0) }  // n x k, row-major; B = stored^T
        var packed = [Float](repeating: -1, count: packedCount(k: k, n: n, format: format))
        packed.withUnsafeMutableBufferPointer { packB(k: k, n: n, stored, rowStride: 1, colStride: k, into: $0.baseAddress!, format: format) }
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
}
