// Kernel-level benchmarks: the GEMM shapes of this model, the gate kernels, and one full
// forward + backward of a minibatch on one thread. Run:
//   swift run -c release KernelBenchmarks [--quick]
// Each figure is the best of several repetitions (the least disturbed by other load).
import Foundation
import PatchRNN
import PatchRNNKernels

let quick = CommandLine.arguments.contains("--quick")
let reps = quick ? 3 : 7

func best(_ body: () -> Void, minSeconds: Double = quick ? 0.05 : 0.2) -> Double {
    var bestTime = Double.infinity
    for _ in 0..<reps {
        var n = 0
        let t0 = monotonicSeconds()
        repeat { body(); n += 1 } while monotonicSeconds() - t0 < minSeconds
        bestTime = min(bestTime, (monotonicSeconds() - t0) / Double(n))
    }
    return bestTime
}

func randomBuffer(_ n: Int, seed: UInt64) -> FloatBuffer {
    var rng = SeededRandom(seed: seed)
    let b = FloatBuffer(count: n)
    for i in 0..<n { b[i] = rng.uniform(-1, 1) }
    return b
}

func line(_ name: String, _ seconds: Double, flops: Double) {
    let padded = name.padding(toLength: 52, withPad: " ", startingAt: 0)
    print("\(padded) \(String(format: "%9.2f", seconds * 1e6)) us  \(String(format: "%7.1f", flops / seconds / 1e9)) GFLOP/s")
}

print("GEMM C[m x n] (+)= A[m x k] B[k x n] (NN) or A^T B (TN), one thread, B packed into panels")
print("(weights are packed once per step, outside these timings; activation gradients, the B of the")
print(" TN weight-gradient products, are packed inside them, as the model does)")
let shapes: [(String, Int, Int, Int, Bool)] = [
    ("input projection  (64x15) x 49  -> 256", 960, 256, 49, false),
    ("input projection  (64x15) x 64  -> 256", 960, 256, 64, false),
    ("recurrent step     64 x 64 -> 256", 64, 256, 64, false),
    ("recurrent step     16 x 64 -> 256", 16, 256, 64, false),
    ("dense              (64x15) x 64 -> 49", 960, 49, 64, false),
    ("backward dh        64 x 256 -> 64", 64, 64, 256, false),
    ("backward dX        (64x15) x 256 -> 64", 960, 64, 256, false),
    ("weight grad (TN)   64 x (64x15) -> 256", 64, 256, 960, true),
    ("weight grad (TN)   49 x (64x15) -> 256", 49, 256, 960, true),
    ("in-cache square    96 x 128 -> 256", 96, 256, 128, false),
]
for (name, m, n, k, tn) in shapes {
    let a = randomBuffer(m * k, seed: 1), b = randomBuffer(k * n, seed: 2), c = FloatBuffer(count: m * n)
    let packed = FloatBuffer(count: packedCount(k: k, n: n))
    packB(k: k, n: n, b.pointer, rowStride: n, colStride: 1, into: packed.pointer)
    let t = best {
        if tn {
            packB(k: k, n: n, b.pointer, rowStride: n, colStride: 1, into: packed.pointer)
            gemmPacked(m: m, n: n, k: k, a: a.pointer, aRowStride: 1, aColStride: m, packedB: packed.pointer, c: c.pointer, ldc: n, accumulate: false)
        } else {
            gemmPacked(m: m, n: n, k: k, a: a.pointer, aRowStride: k, aColStride: 1, packedB: packed.pointer, c: c.pointer, ldc: n, accumulate: false)
        }
    }
    line(name, t, flops: 2 * Double(m * n * k))
}
print(String(format: "large 510x512x512 (the bench's peak figure): %.1f GFLOP/s", ThroughputBenchmark.measurePeak()))

print("\nGate nonlinearities, 65,536 values")
let g = randomBuffer(65_536, seed: 3)
let ts = best { sigmoidInPlace(g.pointer, count: g.count); for i in 0..<8 { g[i] = Float(i) } }
print(String(format: "sigmoid (SIMD polynomial)   %8.1f us", ts * 1e6))
let tt = best { tanhInPlace(g.pointer, count: g.count); for i in 0..<8 { g[i] = Float(i) } }
print(String(format: "tanh (SIMD polynomial)      %8.1f us", tt * 1e6))
let tl = best { for i in 0..<g.count { g[i] = Foundation.tanh(g[i]) } }
print(String(format: "tanh (libm tanhf, scalar)   %8.1f us", tl * 1e6))

print("\nPer-step weight preparation by each worker (pack W_ih^T, W_hh^T, W_d^T and their transposes)")
do {
    let params = Parameters.initialized(.default, seed: 1)
    let ws = ShardWorkspace(layout: params.layout, capacity: 16)
    let tf = best { ws.prepareForward(params.buffer.pointer) }
    let tb = best { ws.prepareBackward(params.buffer.pointer) }
    print(String(format: "prepareForward %8.1f us   prepareBackward %8.1f us", tf * 1e6, tb * 1e6))
}

print("\nOne minibatch forward + backward, one thread (default model)")
for batch in [16, 64, 256] {
    let cfg = ModelConfig.default
    let params = Parameters.initialized(cfg, seed: 1)
    let ws = ShardWorkspace(layout: params.layout, capacity: batch)
    let buf = randomBuffer(batch * PatchSet.sequenceLength, seed: 4)
    for i in 0..<buf.count { buf[i] = abs(buf[i]) }
    let data = PatchSet(sequences: buf, labels: Array(repeating: 0, count: batch))
    let grad = FloatBuffer(count: params.layout.paddedCount)
    let idx = Array(0..<batch)
    idx.withUnsafeBufferPointer { ws.load(data, indices: $0) }
    let t = best {
        ws.prepareForward(params.buffer.pointer)
        ws.prepareBackward(params.buffer.pointer)
        ws.forward(params.buffer.pointer, rows: batch)
        ws.backward(params.buffer.pointer, rows: batch, lossScale: 1e-4, grad: grad.pointer)
    }
    line("shard of \(batch) sequences (\(String(format: "%.0f", Double(batch) / t)) samples/s)", t, flops: cfg.trainingFlopsPerSample * Double(batch))
}
