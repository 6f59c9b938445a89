import PatchRNNKernels

/// Throughput of training steps and generation on synthetic data of MNIST's shape (the speed
/// does not depend on pixel values), plus this machine's single-core GEMM peak measured with
/// the project's own kernel in the same run, so the fraction of the hardware is visible.
package struct ThroughputReport: Sendable, Codable {
    package var cell: String
    /// The GEMM tile (`PanelFormat.name`) of the training, the generation and the peak.
    package var tile: String
    /// Scheduled sampling's feedback probability of the timed steps (0: teacher forcing).
    package var samplingProbability: Double
    package var threads: Int
    package var batchSize: Int
    package var samplesPerSecond: Double
    package var gflops: Double
    package var peakGflops: Double
    package var peakFraction: Double
    package var generationImagesPerSecond: Double
    /// Generation's GFLOP/s (`ModelConfig.generationFlopsPerImage`) over threads x the peak.
    package var generationPeakFraction: Double
    package var computeFraction: Double
    package var reduceUpdateFraction: Double
    package var waitFraction: Double
    package var stepMicroseconds: Double
    /// How the workers were placed: a `PlacementPolicy` name, or "unpinned".
    package var placement = "unpinned"
    /// More workers than CPUs: the speed figures mean nothing.
    package var oversubscribed = false

    enum CodingKeys: String, CodingKey {
        case cell, tile, threads, gflops
        case samplingProbability = "sampling_probability"
        case batchSize = "batch_size"
        case samplesPerSecond = "samples_per_s"
        case peakGflops = "peak_gflops"
        case peakFraction = "peak_fraction"
        case generationImagesPerSecond = "generation_images_per_s"
        case generationPeakFraction = "generation_peak_fraction"
        case computeFraction = "compute_fraction"
        case reduceUpdateFraction = "reduce_update_fraction"
        case waitFraction = "wait_fraction"
        case stepMicroseconds = "step_us"
        case placement, oversubscribed
    }
}

package enum ThroughputBenchmark {
    /// Single-thread GFLOP/s of the project's GEMM kernel with the given tile (B packed, as the
    /// model uses it) on a 504 x 512 x 512 problem (m a multiple of both tiles' rows, 6 and 8):
    /// the best of 15 runs, the one least disturbed by anything else on the machine.
    package static func measurePeak(format: PanelFormat = .preferred) -> Double {
        let m = 504, n = 512, k = 512
        let a = FloatBuffer(count: m * k), b = FloatBuffer(count: k * n), c = FloatBuffer(count: m * n)
        let packed = FloatBuffer(count: packedCount(k: k, n: n, format: format))
        var rng = SeededRandom(seed: 1)
        for i in 0..<(m * k) { a[i] = rng.uniform(-1, 1) }
        for i in 0..<(k * n) { b[i] = rng.uniform(-1, 1) }
        packB(k: k, n: n, b.pointer, rowStride: n, colStride: 1, into: packed.pointer, format: format)
        var best = 0.0
        for _ in 0..<15 {
            let t0 = monotonicSeconds()
            gemmPacked(
                m: m, n: n, k: k, a: a.pointer, aRowStride: k, aColStride: 1, packedB: packed.pointer,
                c: c.pointer, ldc: n, accumulate: false, format: format)
            let dt = monotonicSeconds() - t0
            best = max(best, 2 * Double(m * n * k) / dt / 1e9)
        }
        return best
    }

    /// Training steps for about `seconds` after a warm-up, then generation of 10,000 images
    /// (10 batches of 1,000, as one class batch each). The single-core GEMM peak is measured
    /// right before and right after the training steps, and the better of the two is the
    /// peak: a core that runs slower for a moment while one is measured cannot make the
    /// training look faster than the hardware.
    package static func run(
        pool: WorkerPool, batchSize: Int, shardSize: Int? = nil, model: ModelConfig = .default,
        seconds: Double = 3, format: PanelFormat = .preferred, samplingProbability: Double = 0
    ) throws -> ThroughputReport {
        let peakBefore = measurePeak(format: format)
        let data = syntheticSet(count: max(4096, batchSize * 4))
        let params = Parameters.initialized(model, seed: 1)
        let engine = try TrainingEngine(
            params: params, adamConfig: AdamConfig(), pool: pool,
            shape: StepShape(batchSize: batchSize, shardSize: shardSize), format: format)
        var order = Array(0..<data.count)
        var rng = SeededRandom(seed: 2)
        rng.shuffle(&order)
        let steps = data.count / batchSize
        try order.withUnsafeBufferPointer { all in
            // Scheduled sampling's draws, as in an epoch where the probability has ramped up.
            func feedback(_ k: Int) -> FeedbackDraw? {
                samplingProbability > 0
                    ? FeedbackDraw(probability: samplingProbability, seed: 1, epoch: 1, sequenceIDs: all.baseAddress! + k * batchSize) : nil
            }
            for s in 0..<min(steps, 10) {
                try engine.step(data, UnsafeBufferPointer(rebasing: all[(s * batchSize)..<((s + 1) * batchSize)]), feedback: feedback(s))
            }
            engine.resetTiming()
            pool.waitSeconds = 0
            let t0 = monotonicSeconds()
            var s = 0
            repeat {  // at least one timed step, so that every figure is a number
                let k = s % steps
                try engine.step(data, UnsafeBufferPointer(rebasing: all[(k * batchSize)..<((k + 1) * batchSize)]), feedback: feedback(k))
                s += 1
            } while monotonicSeconds() - t0 < seconds
        }
        let peak = max(peakBefore, measurePeak(format: format))
        let t = engine.timing
        let samplesPerSecond = Double(t.samples) / t.total
        let gflops = samplesPerSecond * model.trainingFlopsPerSample / 1e9
        let wait = pool.waitSeconds

        let generator = try Generator(params: params, pool: pool, format: format)
        let genSet = syntheticSet(count: 10_000)
        _ = try generator.bottomHalves(genSet, Array(0..<1000))
        let g0 = monotonicSeconds()
        for c in 0..<10 { _ = try generator.bottomHalves(genSet, Array((c * 1000)..<((c + 1) * 1000))) }
        let genSeconds = monotonicSeconds() - g0

        return ThroughputReport(
            cell: model.cellName, tile: format.name, samplingProbability: samplingProbability, threads: pool.count, batchSize: batchSize,
            samplesPerSecond: samplesPerSecond, gflops: gflops,
            peakGflops: peak, peakFraction: gflops / (peak * Double(pool.count)),
            generationImagesPerSecond: 10_000 / genSeconds,
            generationPeakFraction: 10_000 / genSeconds * model.generationFlopsPerImage / 1e9 / (peak * Double(pool.count)),
            computeFraction: (t.compute - min(wait, t.compute)) / t.total, reduceUpdateFraction: t.reduceAndUpdate / t.total,
            waitFraction: min(wait, t.total) / t.total, stepMicroseconds: t.total / Double(t.steps) * 1e6,
            oversubscribed: pool.isOversubscribed)
    }

    /// Exactly `steps` training steps (after two that warm up) and `images` generated images, on
    /// the same synthetic data, with nothing else around them: a fixed workload for a profiler.
    package static func profile(
        pool: WorkerPool, batchSize: Int, shardSize: Int? = nil, model: ModelConfig = .default,
        steps: Int, images: Int, format: PanelFormat = .preferred, samplingProbability: Double = 0
    ) throws {
        // As many sequences as the images asked for (up to the 10,000 the caller allows), so
        // that --profile-images N generates N.
        let data = syntheticSet(count: max(4096, batchSize * 4, images))
        let params = Parameters.initialized(model, seed: 1)
        let engine = try TrainingEngine(
            params: params, adamConfig: AdamConfig(), pool: pool,
            shape: StepShape(batchSize: batchSize, shardSize: shardSize), format: format)
        let order = Array(0..<data.count), batches = data.count / batchSize
        try order.withUnsafeBufferPointer { all in
            for s in 0..<(steps + 2) {
                let k = s % batches
                let feedback =
                    samplingProbability > 0
                    ? FeedbackDraw(probability: samplingProbability, seed: 1, epoch: 1, sequenceIDs: all.baseAddress! + k * batchSize) : nil
                try engine.step(data, UnsafeBufferPointer(rebasing: all[(k * batchSize)..<((k + 1) * batchSize)]), feedback: feedback)
            }
        }
        if images > 0 {
            let generator = try Generator(params: params, pool: pool, format: format)
            _ = try generator.bottomHalves(data, Array(0..<images))
        }
    }

    static func syntheticSet(count: Int) -> PatchSet {
        var rng = SeededRandom(seed: 3)
        let buf = FloatBuffer(count: count * PatchSet.sequenceLength)
        for i in 0..<buf.count { buf[i] = rng.uniform(0, 1) }
        return PatchSet(sequences: buf, labels: (0..<count).map { UInt8($0 % 10) })
    }
}
