import PatchRNNKernels

/// The figures the cost model of a training step is built from (scripts/cost-model.py,
/// docs/many-cores.md), measured on this machine:
///
///     step(N) = ceil(S / N) x shard + pack + sum bytes / (N x sum rate) + 2 x hand-off(N)
///
/// for S shards on N workers. `shard` is one shard's forward + backward on one core, `pack` the
/// per-step packing of the weights each busy worker does once, `sum rate` the bytes per second
/// one core moves through the gradient sum + Adam ((S + 6) x 4 bytes per parameter: S shard
/// slices and the weights and both moments read, those three written), `hand-off` the round
/// trip of one pool job (a generation bump out, N - 1 completion counts back).
package struct CostCalibration: Sendable, Codable {
    package struct Shard: Sendable, Codable {
        package var size: Int
        /// One shard's forward + backward on one core, without the weight packing.
        package var microseconds: Double
        /// A worker's workspace for shards of this size (activations, gradients, packed weights).
        package var workspaceBytes: Int
    }
    package struct HandOff: Sendable, Codable {
        package var workers: Int
        /// Round trip of an empty pool job (the fastest batch's mean).
        package var microseconds: Double
    }
    package var cell: String
    package var tile: String
    package var parameters: Int
    package var shards: [Shard]
    /// Packing the weights for forward and backward, once per busy worker per step.
    package var packMicroseconds: Double
    /// Bytes per second one core moves through the gradient sum and Adam.
    package var sumBytesPerSecond: Double
    package var handOffs: [HandOff]
    /// Whether the hand-offs ran on more workers than CPUs (then they measure the scheduler).
    package var oversubscribed: Bool

    enum CodingKeys: String, CodingKey {
        case cell, tile, parameters, shards, oversubscribed
        case packMicroseconds = "pack_us"
        case sumBytesPerSecond = "sum_bytes_per_s"
        case handOffs = "hand_offs"
    }
}

extension CostCalibration.Shard {
    enum CodingKeys: String, CodingKey {
        case size
        case microseconds = "us"
        case workspaceBytes = "workspace_bytes"
    }
}

extension CostCalibration.HandOff {
    enum CodingKeys: String, CodingKey {
        case workers
        case microseconds = "us"
    }
}

package enum CostCalibrationBenchmark {
    /// Measures every figure once: shard and sum times on `onePool` (one worker) for each of
    /// `shardSizes`, for about `seconds` each; the hand-off on a pool of
    /// each of `handOffWorkers` made by `makePool` (one at a time: each pins the caller, and
    /// gives its binding back when it goes). Each figure is the fastest of its repetitions
    /// (steps, batches of hand-offs, packings): on a shared machine the others are the ones
    /// another process interrupted, and the model wants the machine's own cost.
    package static func run(
        onePool: WorkerPool, handOffWorkers: [Int], makePool: (Int) throws -> WorkerPool,
        model: ModelConfig = .default, shardSizes: [Int] = [4, 16],
        seconds: Double = 1, format: PanelFormat = .preferred
    ) throws -> CostCalibration {
        precondition(onePool.count == 1)
        let layout = ParameterLayout(model)
        var shards: [CostCalibration.Shard] = []
        var packs: [Double] = [], sumRates: [Double] = []
        for size in shardSizes {
            // The shard: steps of one shard (short, so that some run undisturbed), less the
            // packing. The sum: steps of 16 shards, as at the default batches.
            let one = try fastestStep(pool: onePool, model: model, batch: size, shard: size, seconds: seconds / 2, format: format)
            let sixteen = try fastestStep(pool: onePool, model: model, batch: 16 * size, shard: size, seconds: seconds / 2, format: format)
            let pack = packSeconds(layout: layout, params: Parameters.initialized(model, seed: 1), format: format)
            // A worker's own memory: what an engine of one shard allocates beyond its shared
            // buffers (one shard's gradient, Adam's two moments).
            let oneShard = StepShape(batchSize: size, shardSize: size)
            let workspace = TrainingEngine.floats(layout, shape: oneShard, workers: 1, format: format) - Double(3 * layout.paddedCount)
            shards.append(.init(size: size, microseconds: max(0, one.compute - pack) * 1e6, workspaceBytes: Int(4 * workspace)))
            packs.append(pack)
            sumRates.append(Double((16 + 6) * 4 * layout.paddedCount) / sixteen.sum)
        }
        var handOffs: [CostCalibration.HandOff] = []
        var oversubscribed = false
        for n in handOffWorkers {
            let pool = try makePool(n)
            handOffs.append(.init(workers: n, microseconds: try handOffSeconds(pool) * 1e6))
            oversubscribed = oversubscribed || pool.isOversubscribed
        }
        return CostCalibration(
            cell: model.cellName, tile: format.name, parameters: layout.paddedCount, shards: shards,
            packMicroseconds: packs.min()! * 1e6, sumBytesPerSecond: sumRates.max()!, handOffs: handOffs,
            oversubscribed: oversubscribed)
    }

    /// The fastest compute and sum + Adam phases of training steps of `batch` sequences, for
    /// about `seconds`.
    static func fastestStep(
        pool: WorkerPool, model: ModelConfig, batch: Int, shard: Int, seconds: Double,
        format: PanelFormat
    ) throws -> (compute: Double, sum: Double) {
        let data = ThroughputBenchmark.syntheticSet(count: max(1024, batch * 4))
        let engine = try TrainingEngine(
            params: Parameters.initialized(model, seed: 1), adamConfig: AdamConfig(), pool: pool,
            shape: StepShape(batchSize: batch, shardSize: shard), format: format)
        let order = Array(0..<data.count)
        let steps = data.count / batch
        var compute = Double.infinity, sum = Double.infinity
        try order.withUnsafeBufferPointer { all in
            func step(_ k: Int) throws {
                try engine.step(data, UnsafeBufferPointer(rebasing: all[(k % steps * batch)..<((k % steps + 1) * batch)]))
            }
            for k in 0..<5 { try step(k) }
            let t0 = monotonicSeconds()
            var k = 0
            repeat {
                engine.resetTiming()
                try step(k)
                compute = min(compute, engine.timing.compute)
                sum = min(sum, engine.timing.reduceAndUpdate)
                k += 1
            } while monotonicSeconds() - t0 < seconds
        }
        return (compute, sum)
    }

    /// The best of many timings of packing the weights for forward and backward (as each busy
    /// worker does once a step, into its workspace).
    static func packSeconds(layout: ParameterLayout, params: Parameters, format: PanelFormat) -> Double {
        let ws = BlockWorkspace(layout: layout, capacity: 4, shardSize: 4, format: format)
        var best = Double.infinity
        for _ in 0..<200 {
            let t0 = monotonicSeconds()
            ws.prepareForward(params.buffer.pointer)
            ws.prepareBackward(params.buffer.pointer)
            best = min(best, monotonicSeconds() - t0)
        }
        return best
    }

    /// The round trip of an empty job on `pool`: the mean of a batch of 1,000, the fastest of
    /// 20 batches.
    static func handOffSeconds(_ pool: WorkerPool) throws -> Double {
        var best = Double.infinity
        for _ in 0..<(pool.isOversubscribed ? 3 : 20) {
            let t0 = monotonicSeconds()
            for _ in 0..<1000 { try pool.run { _ in } }
            best = min(best, (monotonicSeconds() - t0) / 1000)
        }
        return best
    }
}
