// The hot path of training and generation on one thread, measured by package-benchmark:
// the model's GEMM shapes, the gate functions, each cell's fused step forward and backward,
// weight packing, one shard's forward + backward, the reduce + Adam update, a whole
// TrainingEngine step, and generating 1,000 images. Besides time, every benchmark counts
// mallocs and ARC retains/releases inside the measured loop: the kernels and the step are
// meant to do neither, and the thresholds below make any new allocation a regression.
//
//   swift package --package-path Benchmarks benchmark                       # run all
//   swift package --package-path Benchmarks benchmark --filter "GEMM.*"     # some
//   swift package --package-path Benchmarks --allow-writing-to-package-directory benchmark baseline update main
//   swift package --package-path Benchmarks benchmark baseline compare main
//   swift package --package-path Benchmarks benchmark baseline check main  # exit 2 on a regression
//
// Only public API of PatchRNN and PatchRNNKernels is used (no @testable import).
import Benchmark
import Foundation
import PatchRNN
import PatchRNNKernels

/// Buffers made once, when the benchmarks are registered, and never freed (the process ends
/// with the run): the measured closures see only raw pointers.
nonisolated(unsafe) var keepAlive: [AnyObject] = []

func randomBuffer(_ n: Int, seed: UInt64, _ lo: Float = -1, _ hi: Float = 1) -> UnsafeMutablePointer<Float> {
    var rng = SeededRandom(seed: seed)
    let b = FloatBuffer(count: n)
    for i in 0..<n { b[i] = rng.uniform(lo, hi) }
    keepAlive.append(b)
    return b.pointer
}

/// Random sequences in [0, 1) with labels 0-9: speed does not depend on pixel values.
func randomPatches(_ count: Int, seed: UInt64) -> PatchSet {
    let data = FloatBuffer(count: count * PatchSet.sequenceLength)
    data.pointer.update(from: randomBuffer(data.count, seed: seed, 0, 1), count: data.count)
    let set = PatchSet(sequences: data, labels: (0..<count).map { UInt8($0 % 10) })
    keepAlive.append(set)
    return set
}

/// Every benchmark records time, throughput (per scaled iteration) and mallocs; ARC retains and
/// releases too, except on Linux with Swift 6.3. There the runtime's retain hook, which the
/// harness installs for the ARC metrics, crashes the process at the first retain (ordo-one/
/// benchmark issue 349, fixed in Swift 6.4; the harness's workaround, its RuntimeInterposer
/// trait, needs swift-runtime-interposer, which this project does not fetch). The harness's
/// own progress bar retains inside the measured loop, so with the hooks installed every
/// benchmark process died (SIGSEGV, "Bad pointer dereference") under the plain
/// `swift package benchmark`; only `--no-progress` avoided it. So on Swift 6.3/Linux the ARC
/// metrics are opt-in: `PATCHRNN_BENCH_ARC=1 swift package --package-path Benchmarks benchmark
/// --no-progress` counts them for the raw kernels, which must never retain (a single retain
/// would end the run: their zero counts are checked twice). The library-level benchmarks (a
/// workspace, the engine, the generator: classes) count mallocs only there.
#if os(Linux) && compiler(<6.4)
    let arcHooksWork = ProcessInfo.processInfo.environment["PATCHRNN_BENCH_ARC"] == "1"
    let libraryMetrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]
#else
    let arcHooksWork = true
    let libraryMetrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal, .retainCount, .releaseCount]
#endif
let kernelMetrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal] + (arcHooksWork ? [.retainCount, .releaseCount] : [])

/// Any malloc, retain or release more than the baseline is a regression (`baseline check`);
/// time may move by 25% at the median, as these shared 2-vCPU VMs do.
func thresholds(_ metrics: [BenchmarkMetric]) -> [BenchmarkMetric: BenchmarkThresholds] {
    var t: [BenchmarkMetric: BenchmarkThresholds] = [:]
    for metric in metrics {
        switch metric {
        case .wallClock, .throughput: t[metric] = .init(relative: [.p50: 25.0])
        default: t[metric] = .strict
        }
    }
    return t
}

func configuration(_ scaling: BenchmarkScalingFactor = .one, library: Bool = false) -> Benchmark.Configuration {
    let metrics = library ? libraryMetrics : kernelMetrics
    // Times in ns for the sub-microsecond cell steps, else in us (the table's integers keep 3+ digits).
    return .init(
        metrics: metrics, timeUnits: scaling == .one ? .microseconds : .nanoseconds, scalingFactor: scaling,
        maxDuration: .seconds(1), maxIterations: 100_000, thresholds: thresholds(metrics))
}

let benchmarks: @Sendable () -> Void = { registerAll() }

func registerAll() {
    gemmBenchmarks()
    gateBenchmarks()
    for cell in Cells.all { shardBenchmarks(ModelConfig(cell: cell, hidden: 64, layers: 2)) }
    lstmCellBenchmarks()
    gruCellBenchmarks()
    adamBenchmark()
    for cell in Cells.all { stepAndGenerationBenchmarks(ModelConfig(cell: cell, hidden: 64, layers: 2)) }
}

// MARK: GEMM

/// C[m x n] = A[m x k] B[k x n] (NN) or A^T B (TN), B packed into panels. Weights are packed
/// once per step, outside the products, so the NN shapes time the product alone; activation
/// gradients, the B of the TN weight-gradient products, are packed inside, as the model does.
func gemmBenchmarks() {
    let shapes: [(String, Int, Int, Int, Bool)] = [
        ("input projection (64x15)x49 -> 256", 960, 256, 49, false),
        ("input projection (64x15)x64 -> 256", 960, 256, 64, false),
        ("recurrent step 64x64 -> 256", 64, 256, 64, false),
        ("recurrent step 16x64 -> 256", 16, 256, 64, false),
        ("recurrent step 4x64 -> 256", 4, 256, 64, false),
        ("dense (64x15)x64 -> 49", 960, 49, 64, false),
        ("backward dh 64x256 -> 64", 64, 64, 256, false),
        ("backward dX (64x15)x256 -> 64", 960, 64, 256, false),
        ("weight grad TN 64x(64x15) -> 256", 64, 256, 960, true),
        ("weight grad TN 49x(64x15) -> 256", 49, 256, 960, true),
        ("peak 504x512x512", 504, 512, 512, false),
    ]
    // Every shape with each tile: SIMD8 (AVX2) and SIMD16 (AVX-512; pairs of AVX2 operations elsewhere).
    for format in PanelFormat.all {
        for (name, m, n, k, tn) in shapes {
            let a = randomBuffer(m * k, seed: 1), b = randomBuffer(k * n, seed: 2), c = randomBuffer(m * n, seed: 3)
            let packed = randomBuffer(packedCount(k: k, n: n, format: format), seed: 4)
            packB(k: k, n: n, b, rowStride: n, colStride: 1, into: packed, format: format)
            let flops = 2 * m * n * k
            Benchmark("GEMM \(format.name) \(name) (\(flops / 1000) kFLOP)", configuration: configuration()) { benchmark in
                for _ in benchmark.scaledIterations {
                    if tn {
                        packB(k: k, n: n, b, rowStride: n, colStride: 1, into: packed, format: format)
                        gemmPacked(
                            m: m, n: n, k: k, a: a, aRowStride: 1, aColStride: m, packedB: packed, c: c, ldc: n,
                            accumulate: false, format: format)
                    } else {
                        gemmPacked(
                            m: m, n: n, k: k, a: a, aRowStride: k, aColStride: 1, packedB: packed, c: c, ldc: n,
                            accumulate: false, format: format)
                    }
                }
                blackHole(c[0])
            }
        }
    }
}

// MARK: Gate functions

func gateBenchmarks() {
    let n = 65_536
    let g = randomBuffer(n, seed: 5, -4, 4)
    Benchmark("gates sigmoid 65,536 values (SIMD polynomial)", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations {
            sigmoidInPlace(g, count: n)
            for i in 0..<8 { g[i] = Float(i) }
        }
    }
    Benchmark("gates tanh 65,536 values (SIMD polynomial)", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations {
            tanhInPlace(g, count: n)
            for i in 0..<8 { g[i] = Float(i) }
        }
    }
}

// MARK: The cells' steps (one time step of 16 sequences, hidden 64)

/// W_hh^T of a random cell in gate panels (what the fused steps stream) and the layout.
func gatePanels(gates: Int, hidden h: Int, seed: UInt64) -> (UnsafeMutablePointer<Float>, GateLayout) {
    let layout = GateLayout.grouped(gates: gates, hidden: h, lanes: PanelFormat.preferred == .simd16x32 ? 16 : 8)
    let w = randomBuffer(h * gates * h, seed: seed, -0.1, 0.1)
    let panels = randomBuffer(layout.panelFloats(k: h), seed: seed)
    layout.packPanels(k: h, w, rowStride: gates * h, into: panels)
    return (panels, layout)
}

func lstmCellBenchmarks() {
    let rows = 16, h = 64
    let gates = randomBuffer(rows * 4 * h, seed: 6), bias = randomBuffer(4 * h, seed: 7)
    let cPrev = randomBuffer(rows * h, seed: 8), cOut = randomBuffer(rows * h, seed: 9)
    let tanhC = randomBuffer(rows * h, seed: 10), hOut = randomBuffer(rows * h, seed: 11)
    let dhAbove = randomBuffer(rows * h, seed: 12), dhRecurrent = randomBuffer(rows * h, seed: 13)
    let dc = randomBuffer(rows * h, seed: 14), dGates = randomBuffer(rows * 4 * h, seed: 15)
    let hPrev = randomBuffer(rows * h, seed: 16, -1, 1)
    let (panels, layout) = gatePanels(gates: 4, hidden: h, seed: 17)
    let step = LSTMStepBuffers(
        k: h, a: hPrev, aRowStride: h, panels: panels, gates: gates, startsFromGates: false, storesGates: true,
        bias: bias, cPrev: cPrev, cOut: cOut, cRowStride: h, tanhC: tanhC, hOut: hOut, hRowStride: h, layout: layout)
    Benchmark("LSTM fused step (h W_hh^T and the cell), 16 rows x 64", configuration: configuration(.kilo)) { benchmark in
        for _ in benchmark.scaledIterations { lstmFusedStep(step, rows: 0..<rows) }
        blackHole(hOut[0])
    }
    Benchmark("LSTM cell forward alone, 16 rows x 64", configuration: configuration(.kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            lstmCellForward(rows: rows, hidden: h, gates: gates, bias: bias, cPrev: cPrev, cOut: cOut, tanhC: tanhC, hOut: hOut)
        }
        blackHole(hOut[0])
    }
    Benchmark("LSTM cell backward, 16 rows x 64", configuration: configuration(.kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            lstmCellBackward(
                rows: rows, hidden: h, layout: layout, gates: gates, cPrev: cPrev, tanhC: tanhC, dhAbove: dhAbove,
                dhRecurrent: dhRecurrent, dc: dc, dGates: dGates)
        }
        blackHole(dGates[0])
    }
}

func gruCellBenchmarks() {
    let rows = 16, h = 64
    let gates = randomBuffer(rows * 3 * h, seed: 16), hh = randomBuffer(rows * 3 * h, seed: 17)
    let biasSum = randomBuffer(3 * h, seed: 18), biasIH = randomBuffer(3 * h, seed: 19), biasHH = randomBuffer(3 * h, seed: 20)
    let hPrev = randomBuffer(rows * h, seed: 21), hOut = randomBuffer(rows * h, seed: 22), hiddenN = randomBuffer(rows * h, seed: 23)
    let dhAbove = randomBuffer(rows * h, seed: 24), dhRecurrent = randomBuffer(rows * h, seed: 25)
    let dInput = randomBuffer(rows * 3 * h, seed: 26), dHidden = randomBuffer(rows * 3 * h, seed: 27)
    let (panels, layout) = gatePanels(gates: 3, hidden: h, seed: 28)
    let step = GRUStepBuffers(
        kHidden: h, hPrev: hPrev, hPrevRowStride: h, hiddenPanels: panels, input: nil, inputRowStride: 0, kInput: 0,
        inputPanels: nil, gates: gates, storesGates: false, biasSum: biasSum, biasIH: biasIH, biasHH: biasHH,
        hiddenN: hiddenN, hOut: hOut, hOutRowStride: h, layout: layout)
    Benchmark("GRU fused step (h W_hh^T and the cell), 16 rows x 64", configuration: configuration(.kilo)) { benchmark in
        for _ in benchmark.scaledIterations { gruFusedStep(step, rows: 0..<rows) }
        blackHole(hOut[0])
    }
    Benchmark("GRU cell forward alone, 16 rows x 64", configuration: configuration(.kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            gruCellForward(
                rows: rows, hidden: h, gates: gates, hh: hh, biasSum: biasSum, biasIH: biasIH, biasHH: biasHH,
                hPrev: hPrev, hOut: hOut, hiddenN: hiddenN)
        }
        blackHole(hOut[0])
    }
    Benchmark("GRU cell backward, 16 rows x 64", configuration: configuration(.kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            gruCellBackward(
                rows: rows, hidden: h, layout: layout, gates: gates, hiddenN: hiddenN, hPrev: hPrev, dhAbove: dhAbove,
                dhRecurrent: dhRecurrent, dInput: dInput, dHidden: dHidden)
        }
        blackHole(dInput[0])
    }
}

// MARK: One block (what a worker does with the shards it takes at once)

func shardBenchmarks(_ config: ModelConfig) {
    let params = Parameters.initialized(config, seed: 1)
    // The default batch of 64 on one thread: one block of 16 shards of 4.
    let rows = 64, shard = 4, shards = rows / shard
    let ws = BlockWorkspace(layout: params.layout, capacity: rows, shardSize: shard)
    let data = randomPatches(rows, seed: 30)
    let grads = FloatBuffer(count: shards * params.layout.paddedCount)
    let losses = UnsafeMutablePointer<Double>.allocate(capacity: shards)
    keepAlive += [params, ws, grads]
    let p = UnsafePointer(params.buffer.pointer)
    let indices = UnsafeMutableBufferPointer<Int>.allocate(capacity: rows)
    for i in 0..<rows { indices[i] = i }
    ws.load(data, indices: UnsafeBufferPointer(indices))
    ws.prepareForward(p)
    ws.prepareBackward(p)
    let title = config.cell.title
    Benchmark("\(title) weight packing per step (prepareForward + prepareBackward)", configuration: configuration(library: true)) {
        benchmark in
        for _ in benchmark.scaledIterations {
            ws.prepareForward(p)
            ws.prepareBackward(p)
        }
    }
    Benchmark("\(title) block of 64 sequences (16 shards of 4), forward + backward", configuration: configuration(library: true)) {
        benchmark in
        for _ in benchmark.scaledIterations {
            ws.load(data, indices: UnsafeBufferPointer(indices))
            ws.forward(p, rows: rows, shardLosses: losses)
            var sink = ShardBuffers(base: grads.pointer, stride: params.layout.paddedCount)
            ws.backward(p, rows: rows, lossScale: 1e-4, sink: &sink)
        }
        blackHole(losses[0])
    }
}

/// Shard j's gradient into the j-th buffer of one allocation.
struct ShardBuffers: GradientSink {
    let base: UnsafeMutablePointer<Float>, stride: Int
    func destination(shard: Int, region: GradientRegion) -> UnsafeMutablePointer<Float> { base + shard * stride }
    func finished(shard: Int, region: GradientRegion) {}
}

// MARK: Reduce + Adam

/// The default LSTM's parameter vector, batch 64 in shards of 16: the 4 shard gradients summed
/// in shard order and one Adam update, over the whole vector (what the workers share).
func adamBenchmark() {
    let params = Parameters.initialized(.default, seed: 1)
    let n = params.layout.paddedCount, shards = 4
    let grads = randomBuffer(shards * n, seed: 40, -1e-3, 1e-3)
    let m = randomBuffer(n, seed: 41, 0, 0), v = randomBuffer(n, seed: 42, 0, 0)
    let p = params.buffer.pointer
    keepAlive.append(params)
    let coefficients = AdamConfig().coefficients(step: 100)
    Benchmark("reduce 4 shards + Adam, \(n) parameters", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations {
            reduceAndAdamUpdate(params: p, shardGrads: grads, shards: shards, stride: n, m: m, v: v, begin: 0, end: n, coefficients)
        }
    }
}

// MARK: A whole training step and generation, through the library (one worker thread)

func stepAndGenerationBenchmarks(_ config: ModelConfig) {
    let title = config.cell.title
    let pool = try! WorkerPool(placement: [nil], topology: nil)
    let params = Parameters.initialized(config, seed: 1)
    let engine = try! TrainingEngine(params: params, adamConfig: AdamConfig(), pool: pool, shape: StepShape(batchSize: 64, shardSize: 16))
    let train = randomPatches(64, seed: 50)
    let batch = UnsafeMutableBufferPointer<Int>.allocate(capacity: 64)
    for i in 0..<64 { batch[i] = i }
    let generator = try! Generator(params: params, pool: pool)
    let images = randomPatches(1000, seed: 51)
    let all = Array(0..<1000)
    keepAlive += [pool, params, engine, generator]
    Benchmark("\(title) training step, batch 64, 1 thread (TrainingEngine.step)", configuration: configuration(library: true)) {
        benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! engine.step(train, UnsafeBufferPointer(batch))) }
    }
    Benchmark("\(title) generation of 1,000 images, 1 thread (Generator.bottomHalves)", configuration: configuration(library: true)) {
        benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! generator.bottomHalves(images, all)) }
    }
}
