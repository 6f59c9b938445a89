import PatchRNNKernels

/// The coordinator of data-parallel training.
///
/// Every minibatch is cut into shards by `shape` (`StepShape`): the cut depends only on the
/// batch, never on the thread count. Workers take shards from a shared queue (a slow core
/// takes fewer) and compute each into the shard's own gradient buffer, so who computed a shard
/// does not matter. Then, without copying, worker w sums its slice of the parameter vector
/// over all shard buffers in shard order and applies Adam to that slice of the shared weights.
/// The pool's completion hand-off publishes the new weights before the next step starts. Same
/// seed, same shape: bit-identical weights for any number of threads.
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
    public let evaluator: LossEvaluator
    /// The ranks' gradient total for `.allreduce` (allocated only with several ranks).
    let rankTotal: FloatBuffer?
    public var layout: ParameterLayout { params.layout }

    let shardGrads: FloatBuffer
    let workspaces: PerWorker<ShardWorkspace>
    let shardLoss: UnsafeMutablePointer<Double>
    public private(set) var timing = StepTiming()

    public init(params: Parameters, adamConfig: AdamConfig, pool: WorkerPool, shape: StepShape,
                group: ProcessGroup = SingleProcess(), exchange: GradientExchange = .exact, format: PanelFormat = .preferred) throws {
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
        shardGrads = try FloatBuffer(count: slots * padded, what: "the gradients of \(slots) shards") { try zeroBySlices($0, copies: slots) }
        shardLoss = .allocate(capacity: shape.slots)
        rankTotal = group.size > 1 ? FloatBuffer(count: params.layout.paddedCount, what: "the ranks' gradient total") : nil
        workspaces = PerWorker(count: pool.count)
        let layout = params.layout, workspaces = self.workspaces, capacity = shape.shardSize
        // Each worker allocates (and so first-touches) its own buffers on its own core.
        try pool.run { w in workspaces[w] = ShardWorkspace(layout: layout, capacity: capacity, format: format) }
        evaluator = LossEvaluator(params: params, pool: pool, shardSize: shape.shardSize, workspaces: workspaces)
    }

    /// The same with a shape given as its two numbers.
    public convenience init(params: Parameters, adamConfig: AdamConfig, pool: WorkerPool, shardSize: Int, maxBatch: Int,
                            group: ProcessGroup = SingleProcess()) throws {
        try self.init(params: params, adamConfig: adamConfig, pool: pool, shape: StepShape(batchSize: maxBatch, shardSize: shardSize), group: group)
    }

    deinit { shardLoss.deallocate() }

    /// Floats an engine allocates: the shard gradients, Adam's moments, the ranks' total and
    /// every worker's workspace (read from the same plans as the allocations).
    /// (A Double: the product of sizes that are each within bounds can still exceed an Int.)
    public static func floats(_ layout: ParameterLayout, shape: StepShape, workers: Int, ranks: Int = 1, format: PanelFormat = .preferred) -> Double {
        Double(shape.slots + 2 + (ranks > 1 ? 1 : 0)) * Double(layout.paddedCount)
            + Double(workers) * Double(ShardWorkspace.floats(layout, capacity: shape.shardSize, format: format))
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
        let first = mine.lowerBound
        try pool.forEachItem(mine.count, start: { w in
            workspaces[w]?.prepareForward(p)
            workspaces[w]?.prepareBackward(p)
        }) { w, q in
            guard let ws = workspaces[w] else { return }
            let s = first + q, r = shape.range(ofShard: s, batch: batch)
            ws.load(data, indices: UnsafeBufferPointer(rebasing: indices[r]))
            shardLoss[s] = ws.forward(p, rows: r.count, feedback: feedback?.rows(from: r.lowerBound))
            ws.backward(p, rows: r.count, lossScale: lossScale, grad: grads + s * padded)
        }
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
            throw NonFiniteLoss(loss: loss, step: adam.step + 1, tensor: nonFiniteTensor(grads: summed, shards: summedShards))
        }
        adam.step += 1
        let coefficients = adamConfig.coefficients(step: adam.step)
        let m = adam.m.pointer, v = adam.v.pointer, summedShardCount = summedShards, summedGrads = summed
        try pool.run { w in
            let r = Self.sumSlice(worker: w, workers: workers, padded: padded)
            if !r.isEmpty {
                reduceAndAdamUpdate(params: p, shardGrads: summedGrads, shards: summedShardCount, stride: padded,
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

    /// Worker w's slice of the parameter vector for the gradient sum and Adam: whole blocks of
    /// 64 floats, so every element takes the same path whatever the worker count.
    static func sumSlice(worker w: Int, workers: Int, padded: Int) -> Range<Int> {
        let slice = (padded / 64 + workers - 1) / workers * 64
        let begin = min(w * slice, padded)
        return begin..<min(begin + slice, padded)
    }

    /// The first tensor whose weights or gradient (summed over the shards) hold a NaN or an
    /// infinity, as "name (weights)" or "name (gradient)".
    func nonFiniteTensor(grads g: UnsafePointer<Float>, shards: Int) -> String? {
        let p = params.buffer.pointer, n = layout.paddedCount
        for v in layout.allViews {
            for i in v.offset..<(v.offset + v.count) where !p[i].isFinite { return "\(v.name) (weights)" }
        }
        for v in layout.allViews {
            for i in v.offset..<(v.offset + v.count) {
                var sum: Float = 0
                for s in 0..<shards { sum += g[s * n + i] }
                if !sum.isFinite { return "\(v.name) (gradient)" }
            }
        }
        return nil
    }
}

/// Where the time of the steps went, as the coordinator sees it.
public struct StepTiming: Sendable {
    public var compute = 0.0          // forward + backward of this rank's shards
    public var exchange = 0.0         // MPI all-gather of the shard gradients (0 in one process)
    public var reduceAndUpdate = 0.0  // gradient sum + Adam + hand-offs
    public var steps = 0
    public var samples = 0
    public var total: Double { compute + exchange + reduceAndUpdate }
}
