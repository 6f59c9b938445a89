import CSync
import Foundation
import PatchRNNKernels

/// The coordinator of data-parallel training.
///
/// Every minibatch is cut into shards by `shape` (`StepShape`): the cut depends only on the
/// batch, never on the thread count. Workers take blocks of consecutive shards from a shared
/// queue (a slow core takes fewer) and compute each block at once (`BlockWorkspace`: 16-64-row
/// products instead of 4-row ones), each shard's gradient into the shard's own buffer, so who
/// computed a shard does not matter. Then, without copying, worker w sums its slice of the
/// parameter vector over all shard buffers in shard order and applies Adam to that slice of the
/// shared weights. The pool's completion hand-off publishes the new weights before the next
/// step starts. Same seed, same shape: bit-identical weights for any number of threads.
///
/// Summing while hot: the worker that computes shard s while shards 0..<s are already summed
/// (for that part of the parameter vector) adds shard s into shard 0's buffer at once, while
/// the gradient is still in its cache, instead of leaving it for the sum after the barrier.
/// The additions are the same, in the same order, so the result is too; on one thread the
/// whole sum happens this way and the step's sum reads one buffer instead of 16 or more.
///
/// Under MPI each rank computes only the shards of its slots (`StepShape.ownedShards`), the
/// ranks all-gather the shard gradients, and every rank then runs the same ordered sum and
/// Adam step: bit-identical weights for any split over ranks x threads as well.
public final class TrainingEngine: @unchecked Sendable {
    public let pool: WorkerPool
    public let params: Parameters
    public let adam: AdamState
    public var adamConfig: AdamConfig
    public let shape: StepShape
    public let group: ProcessGroup
    /// How ranks combine gradients (only matters with several ranks).
    public let exchange: GradientExchange
    /// The teacher-forced loss on the engine's own workspaces (validation).
    package let evaluator: LossEvaluator
    /// The ranks' gradient total for `.allreduce` (allocated only with several ranks).
    let rankTotal: FloatBuffer?
    public var layout: ParameterLayout { params.layout }

    let shardGrads: FloatBuffer
    let workspaces: PerWorker<BlockWorkspace>
    let shardLoss: UnsafeMutablePointer<Double>
    /// Shards per block (the unit a worker takes from the queue).
    public let blockShards: Int
    /// Per worker, a buffer in the parameter layout to compute a shard's gradient in before
    /// adding it to the running sum (allocated only in one process: `foldsWhileHot`).
    let foldScratch: PerWorker<FloatBuffer>
    /// Per gradient region (`GradientRegion`), the number of leading shards already summed
    /// into shard 0's buffer in this step; 16 words apart (a cache line each).
    let foldedShards: UnsafeMutablePointer<UInt32>
    /// Whether shards are summed while hot: in one process (under MPI the ranks exchange the
    /// shards' own gradients).
    let foldsWhileHot: Bool
    public private(set) var timing = StepTiming()

    /// `sumWhileHot: false` leaves every shard's gradient to the sum after the barrier (tests
    /// compare the two: the results must be the same).
    public init(
        params: Parameters, adamConfig: AdamConfig, pool: WorkerPool, shape: StepShape,
        group: ProcessGroup = SingleProcess(), exchange: GradientExchange = .exact, format: PanelFormat = .preferred,
        sumWhileHot: Bool = true
    ) throws {
        guard shape.shardSize >= 1 else { throw PatchRNNError.setting(.shardSize, "must be at least 1 (got \(shape.shardSize))") }
        guard shape.batchSize >= 1 else { throw PatchRNNError.setting(.batchSize, "must be at least 1 (got \(shape.batchSize))") }
        self.group = group
        self.params = params
        self.adamConfig = adamConfig
        self.pool = pool
        self.shape = shape
        self.exchange = exchange
        // The sum-and-update kernel works on whole blocks of 16; the slices below are multiples of 64.
        let padded = params.layout.paddedCount, slots = shape.slots
        precondition(padded % 64 == 0)
        // NUMA: worker w sums and updates slice w of the parameter vector every step, reading
        // slice w of every shard's gradient and of Adam's moments. It zeroes those slices
        // itself, so that their pages are first touched, and so placed, on its own node.
        func zeroBySlices(_ p: UnsafeMutablePointer<Float>, copies: Int) throws {
            try pool.run { w in
                let r = Self.sumSlice(worker: w, workers: pool.count, padded: padded)
                for c in 0..<copies where !r.isEmpty { (p + c * padded + r.lowerBound).initialize(repeating: 0, count: r.count) }
            }
        }
        adam = try AdamState(count: padded) { try zeroBySlices($0, copies: 1) }
        shardGrads = try FloatBuffer(count: slots * padded, what: "the gradients of \(slots) shards") {
            try zeroBySlices($0, copies: slots)
        }
        shardLoss = .allocate(capacity: shape.slots)
        rankTotal = group.size > 1 ? FloatBuffer(count: params.layout.paddedCount, what: "the ranks' gradient total") : nil
        blockShards = Self.blockShards(shape, workers: pool.count)
        foldsWhileHot = sumWhileHot && group.size == 1
        let regions = params.layout.config.layers + 1
        foldedShards = .allocate(capacity: 16 * regions)
        foldedShards.initialize(repeating: 0, count: 16 * regions)
        workspaces = PerWorker(count: pool.count)
        foldScratch = PerWorker(count: pool.count)
        let layout = params.layout, workspaces = self.workspaces, foldScratch = self.foldScratch
        let capacity = blockShards * shape.shardSize, shardSize = shape.shardSize, folds = foldsWhileHot
        // Each worker allocates (and so first-touches) its own buffers on its own core.
        try pool.run { w in
            workspaces[w] = BlockWorkspace(layout: layout, capacity: capacity, shardSize: shardSize, format: format)
            if folds { foldScratch[w] = FloatBuffer(count: padded) }
        }
        evaluator = LossEvaluator(params: params, pool: pool, shardSize: shape.shardSize, blockShards: blockShards, workspaces: workspaces)
    }

    /// The most rows a block may have. Bigger blocks make bigger products but a bigger working
    /// set (about 90 KiB a row for the default model, kept from forward to backward). Measured
    /// on a Zen 3 core (512 KiB L2), one thread, batch 64, fixed work alternated 7 times: 16
    /// rows 11% faster than one shard at a time before blocks, 8 rows and 32 rows 11-15% slower
    /// than 16, 64 rows 20-30% slower (docs/performance.md). `PATCHRNN_BLOCK_ROWS`
    /// overrides it, for measuring other CPUs (the results do not depend on it).
    public static let maxBlockRows: Int = {
        if let v = getenv("PATCHRNN_BLOCK_ROWS").flatMap({ Int(String(cString: $0)) }), v >= 1, v <= 4096 { return v }
        return 16
    }()

    /// Shards per block: as many as keep every worker busy (the slots shared evenly), at most
    /// `maxBlockRows` rows, at least one shard.
    public static func blockShards(_ shape: StepShape, workers: Int) -> Int {
        let even = (shape.slots + workers - 1) / max(workers, 1)
        return max(1, min(even, maxBlockRows / shape.shardSize))
    }

    /// The same with a shape given as its two numbers.
    public convenience init(
        params: Parameters, adamConfig: AdamConfig, pool: WorkerPool, shardSize: Int, maxBatch: Int,
        group: ProcessGroup = SingleProcess()
    ) throws {
        try self.init(
            params: params, adamConfig: adamConfig, pool: pool, shape: StepShape(batchSize: maxBatch, shardSize: shardSize), group: group)
    }

    deinit {
        shardLoss.deallocate()
        foldedShards.deallocate()
    }

    /// Floats an engine allocates: the shard gradients, Adam's moments, the ranks' total and
    /// every worker's workspace (read from the same plans as the allocations).
    /// (A Double: the product of sizes that are each within bounds can still exceed an Int.)
    public static func floats(_ layout: ParameterLayout, shape: StepShape, workers: Int, ranks: Int = 1, format: PanelFormat = .preferred)
        -> Double
    {
        let capacity = blockShards(shape, workers: workers) * shape.shardSize
        let perWorker =
            BlockWorkspace.floats(layout, capacity: capacity, shardSize: shape.shardSize, format: format)
            + (ranks == 1 ? layout.paddedCount : 0)
        return Double(shape.slots + 2 + (ranks > 1 ? 1 : 0)) * Double(layout.paddedCount) + Double(workers) * Double(perWorker)
    }

    /// One Adam step on the minibatch `indices` of `data`. Returns the minibatch mean loss
    /// (MSE over batch x steps x outputs) before the update. Under MPI, only the entries of
    /// this rank's shards are read (the others may be -1: rows this rank does not hold).
    /// `feedback`: scheduled sampling's draws for this minibatch (nil: teacher forcing).
    @discardableResult
    public func step(_ data: PatchSet, _ indices: UnsafeBufferPointer<Int>, feedback: FeedbackDraw? = nil) throws -> Double {
        let batch = indices.count
        precondition(batch >= 1 && batch <= shape.batchSize)
        let shards = shape.shards(ofBatch: batch)
        let mine = shape.ownedShards(rank: group.rank, size: group.size, shards: shards)
        let cfg = layout.config
        let elements = Double(batch * cfg.steps * cfg.outputSize)
        let lossScale = Float(1 / elements)
        let p = params.buffer.pointer, grads = shardGrads.pointer, padded = layout.paddedCount
        let workers = pool.count, shape = self.shape, workspaces = self.workspaces, shardLoss = self.shardLoss

        let t0 = monotonicSeconds()
        let first = mine.lowerBound, perBlock = blockShards, blocks = (mine.count + perBlock - 1) / perBlock
        let regions = cfg.layers + 1, folded = foldedShards, foldScratch = self.foldScratch
        let sink = FoldingSink(slots: grads, stride: padded, folded: folded, layout: layout, enabled: foldsWhileHot)
        for r in 0..<regions { csync_store(folded + 16 * r, 0) }
        let packWeights: (Int) -> Void = { w in
            workspaces[w]?.prepareForward(p)
            workspaces[w]?.prepareBackward(p)
        }
        try pool.forEachItem(blocks, start: packWeights) { w, q in
            guard let ws = workspaces[w] else { return }
            let s0 = first + q * perBlock, s1 = min(s0 + perBlock, mine.upperBound)
            let rows = shape.range(ofShard: s0, batch: batch).lowerBound..<shape.range(ofShard: s1 - 1, batch: batch).upperBound
            ws.load(data, indices: UnsafeBufferPointer(rebasing: indices[rows]))
            ws.forward(p, rows: rows.count, feedback: feedback?.rows(from: rows.lowerBound), shardLosses: shardLoss + s0)
            var blockSink = sink.block(firstShard: s0, scratch: foldScratch[w]?.pointer)
            ws.backward(p, rows: rows.count, lossScale: lossScale, sink: &blockSink)
        }
        // Per region, the shards already summed into shard 0's buffer (at least shard 0 itself).
        /// Shards already summed into shard 0's buffer for a region (at least shard 0 itself).
        func foldedCount(_ region: Int) -> Int { max(1, Int(csync_load(folded + 16 * region))) }
        // What Adam sums: every shard's gradient, or (allreduce) one buffer with the ranks' total.
        var summed = UnsafePointer(grads), summedShards = shards
        var sse = 0.0
        let t1 = monotonicSeconds()
        timing.compute += t1 - t0
        if group.size > 1, exchange == .allreduce, let total = rankTotal?.pointer {
            for s in mine { sse += shardLoss[s] }
            try pool.run { w in
                let r = Self.sumSlice(worker: w, workers: workers, padded: padded)
                if !r.isEmpty { sumShards(grads, shards: mine, stride: padded, into: total, begin: r.lowerBound, end: r.upperBound) }
            }
            try group.allReduceSum(total, count: padded, &sse)
            summed = UnsafePointer(total)
            summedShards = 1
        } else {
            if group.size > 1 {
                let shardsOf = (0..<group.size).map { shape.ownedShards(rank: $0, size: group.size, shards: shards) }
                try group.allGatherShards(grads: grads, stride: padded, losses: shardLoss, shardsOf: shardsOf)
            }
            for s in 0..<shards { sse += shardLoss[s] }
        }
        let t2 = monotonicSeconds()
        timing.exchange += t2 - t1
        let loss = sse / elements
        guard loss.isFinite else {
            throw NonFiniteLoss(
                loss: loss, step: adam.step + 1,
                tensor: nonFiniteTensor(
                    grads: summed, shards: summedShards, folded: summedShards == 1 ? [] : (0..<regions).map(foldedCount)))
        }
        adam.step += 1
        let coefficients = adamConfig.coefficients(step: adam.step)
        let m = adam.m.pointer, v = adam.v.pointer, summedShardCount = summedShards, summedGrads = summed
        try pool.run { w in
            let slice = Self.sumSlice(worker: w, workers: workers, padded: padded)
            for region in 0..<regions {
                let r = slice.clamped(to: GradientRegion.range(index: region, in: layout))
                if r.isEmpty { continue }
                reduceAndAdamUpdate(
                    params: p, shardGrads: summedGrads, shards: summedShardCount, stride: padded,
                    folded: summedShardCount == 1 ? 1 : foldedCount(region),
                    m: m, v: v, begin: r.lowerBound, end: r.upperBound, coefficients)
            }
        }
        timing.reduceAndUpdate += monotonicSeconds() - t2
        timing.steps += 1
        timing.samples += batch
        return loss
    }

    /// Teacher-forced mean loss over `indices` of `data` (no update), on the engine's workspaces.
    public func meanLoss(_ data: PatchSet, _ indices: [Int]) throws -> Double {
        try evaluator.meanLoss(data, indices)
    }

    public func resetTiming() { timing = StepTiming() }

    /// Worker w's slice of the parameter vector for the gradient sum and Adam (`SumSlices`).
    static func sumSlice(worker w: Int, workers: Int, padded: Int) -> Range<Int> {
        SumSlices.range(worker: w, workers: workers, count: padded)
    }

    /// The first tensor whose weights or gradient (summed over the shards) hold a NaN or an
    /// infinity, as "name (weights)" or "name (gradient)".
    /// `folded[region]`: shards already summed into shard 0's buffer (empty: none).
    func nonFiniteTensor(grads g: UnsafePointer<Float>, shards: Int, folded: [Int]) -> String? {
        let p = params.buffer.pointer, n = layout.paddedCount
        for v in layout.allViews {
            for i in v.offset..<(v.offset + v.count) where !p[i].isFinite { return "\(v.name) (weights)" }
        }
        let regions = (0..<(layout.config.layers + 1)).map { GradientRegion.range(index: $0, in: layout) }
        for v in layout.allViews {
            let region = regions.firstIndex { $0.contains(v.offset) } ?? 0
            let from = folded.isEmpty ? 1 : folded[region]
            for i in v.offset..<(v.offset + v.count) {
                var sum = g[i]
                for s in from..<max(shards, from) { sum += g[s * n + i] }
                if !sum.isFinite { return "\(v.name) (gradient)" }
            }
        }
        return nil
    }
}

/// Where the time of the steps went, as the coordinator sees it.
public struct StepTiming: Sendable {
    public var compute = 0.0  // forward + backward of this rank's shards
    public var exchange = 0.0  // MPI all-gather of the shard gradients (0 in one process)
    public var reduceAndUpdate = 0.0  // gradient sum + Adam + hand-offs
    public var steps = 0
    public var samples = 0
    public var total: Double { compute + exchange + reduceAndUpdate }
}

/// Where the engine's backward writes each shard's gradient: the shard's own buffer, or, when
/// the shards before it are already summed into shard 0's buffer for that region, a scratch
/// buffer that is then added into that sum at once (in the same order the sum after the
/// barrier would use, so with the same result).
struct FoldingSink {
    let slots: UnsafeMutablePointer<Float>
    let stride: Int
    /// Per region, 16 words apart: shards summed so far into slot 0.
    let folded: UnsafeMutablePointer<UInt32>
    let layout: ParameterLayout
    let enabled: Bool

    /// The sink of one block, whose first shard is `firstShard` of the minibatch.
    func block(firstShard: Int, scratch: UnsafeMutablePointer<Float>?) -> Block {
        Block(engine: self, firstShard: firstShard, scratch: scratch)
    }

    struct Block: GradientSink {
        let engine: FoldingSink
        let firstShard: Int
        let scratch: UnsafeMutablePointer<Float>?
        /// Whether the shard being written is being folded.
        var folding = false

        mutating func destination(shard j: Int, region: GradientRegion) -> UnsafeMutablePointer<Float> {
            let s = firstShard + j
            let counter = engine.folded + 16 * region.index(layers: engine.layout.config.layers)
            // Shard 0 starts the sum in its own buffer; shard s joins it if 0..<s are in.
            folding = engine.enabled && scratch != nil && Int(csync_load(counter)) == s
            if !folding || s == 0 { return engine.slots + s * engine.stride }
            return scratch!
        }

        mutating func finished(shard j: Int, region: GradientRegion) {
            guard folding else { return }
            let s = firstShard + j, index = region.index(layers: engine.layout.config.layers)
            if s > 0, let scratch {
                let r = GradientRegion.range(index: index, in: engine.layout)
                addInPlace(engine.slots + r.lowerBound, scratch + r.lowerBound, count: r.count)
            }
            // Publishes the sum (a sequentially consistent store) to the worker of shard s + 1.
            csync_store(engine.folded + 16 * index, UInt32(s + 1))
        }
    }
}
