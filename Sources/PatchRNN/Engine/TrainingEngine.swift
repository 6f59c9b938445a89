/// The coordinator of data-parallel training.
///
/// Every minibatch is cut into shards of `shardSize` sequences (the last may be smaller). The
/// cut depends only on the batch, never on the thread count. Workers take shards from a
/// shared queue (a slow core takes fewer) and compute each into the shard's own gradient
/// buffer, so who computed a shard does not matter. Then, without copying, worker
/// w sums its slice of the parameter vector over all shard buffers in shard order and applies
/// Adam to that slice of the shared weights. The pool's completion hand-off publishes the new
/// weights before the next step starts. Same seed, same shard size: bit-identical weights
/// for any number of threads.
///
/// Under MPI each rank computes only the shards of its slots (`ShardSlots.ownedShards`), the
/// ranks all-gather the shard gradients, and every rank then runs the same ordered sum and
/// Adam step: bit-identical weights for any split over ranks x threads as well.
public final class TrainingEngine: @unchecked Sendable {
    public let pool: WorkerPool
    public let params: Parameters
    public let adam: AdamState
    public var adamConfig: AdamConfig
    public let shardSize: Int
    public let maxBatch: Int
    public let group: ProcessGroup
    /// How ranks combine gradients (only matters with several ranks).
    public var exchange = GradientExchange.exact
    /// The ranks' gradient total for `.allreduce` (allocated only with several ranks).
    let rankTotal: FloatBuffer?
    public var layout: ParameterLayout { params.layout }

    let shardGrads: FloatBuffer
    let maxShards: Int
    let workspaces: PerWorker<ShardWorkspace>
    let shardLoss: UnsafeMutablePointer<Double>
    public private(set) var timing = StepTiming()

    public init(params: Parameters, adamConfig: AdamConfig, pool: WorkerPool, shardSize: Int, maxBatch: Int,
                group: ProcessGroup = SingleProcess()) throws {
        precondition(shardSize >= 1 && maxBatch >= 1)
        self.group = group
        self.params = params
        self.adamConfig = adamConfig
        self.pool = pool
        self.shardSize = shardSize
        self.maxBatch = maxBatch
        adam = AdamState(count: params.layout.paddedCount)
        maxShards = (maxBatch + shardSize - 1) / shardSize
        shardGrads = FloatBuffer(count: maxShards * params.layout.paddedCount)
        shardLoss = .allocate(capacity: maxShards)
        rankTotal = group.size > 1 ? FloatBuffer(count: params.layout.paddedCount) : nil
        workspaces = PerWorker(count: pool.count)
        let layout = params.layout, workspaces = self.workspaces
        // Each worker allocates (and so first-touches) its own buffers on its own core.
        try pool.run { w in workspaces[w] = ShardWorkspace(layout: layout, capacity: shardSize) }
    }

    deinit { shardLoss.deallocate() }

    /// One Adam step on the minibatch `indices` of `data`. Returns the minibatch mean loss
    /// (MSE over batch x steps x outputs) before the update. Under MPI, only the entries of
    /// this rank's shards are read (the others may be -1: rows this rank does not hold).
    @discardableResult
    public func step(_ data: PatchSet, _ indices: UnsafeBufferPointer<Int>) throws -> Double {
        let batch = indices.count
        precondition(batch >= 1 && batch <= maxBatch)
        let shards = (batch + shardSize - 1) / shardSize
        let slots = ShardSlots(batchSize: maxBatch, shardSize: shardSize, count: 0)
        let mine = slots.ownedShards(rank: group.rank, size: group.size, shards: shards)
        let cfg = layout.config
        let elements = Double(batch * cfg.steps * cfg.outputSize)
        let lossScale = Float(1 / elements)
        let p = params.buffer.pointer, grads = shardGrads.pointer, padded = layout.paddedCount
        let workers = pool.count, shardSize = self.shardSize, workspaces = self.workspaces, shardLoss = self.shardLoss

        let t0 = monotonicSeconds()
        let queue = WorkerPool.WorkQueue(count: mine.count), first = mine.lowerBound
        try pool.run { w in
            guard let ws = workspaces[w], let q = queue.take() else { return }
            var s = first + q
            ws.prepareForward(p)
            ws.prepareBackward(p)
            repeat {
                let lo = s * shardSize, hi = min(lo + shardSize, batch)
                let part = UnsafeBufferPointer(rebasing: indices[lo..<hi])
                ws.load(data, indices: part)
                shardLoss[s] = ws.forward(p, rows: hi - lo)
                ws.backward(p, rows: hi - lo, lossScale: lossScale, grad: grads + s * padded)
                guard let next = queue.take() else { break }
                s = first + next
            } while true
        }
        // Each worker's slice of the parameter vector (whole SIMD blocks) for the sums and Adam.
        let slice = (padded / 64 + workers - 1) / workers * 64
        // What Adam sums: every shard's gradient, or (allreduce) one buffer with the ranks' total.
        var summed = UnsafePointer(grads), summedShards = shards
        var sse = 0.0
        let t1 = monotonicSeconds()
        timing.compute += t1 - t0
        if group.size > 1, exchange == .allreduce, let total = rankTotal?.pointer {
            for s in mine { sse += shardLoss[s] }
            try pool.run { w in
                let begin = min(w * slice, padded), end = min(begin + slice, padded)
                if begin < end { sumShards(grads, shards: mine, stride: padded, into: total, begin: begin, end: end) }
            }
            try group.allReduceSum(total, count: padded, &sse)
            summed = UnsafePointer(total)
            summedShards = 1
        } else {
            if group.size > 1 {
                let shardsOf = (0..<group.size).map { slots.ownedShards(rank: $0, size: group.size, shards: shards) }
                try group.allGatherShards(grads: grads, stride: padded, losses: shardLoss, shardsOf: shardsOf)
            }
            for s in 0..<shards { sse += shardLoss[s] }
        }
        let t2 = monotonicSeconds()
        timing.exchange += t2 - t1
        let loss = sse / elements
        guard loss.isFinite else {
            let culprit = nonFiniteTensor(grads: summed, shards: summedShards).map { " (first non-finite values in \($0))" } ?? ""
            throw PatchRNNError("the training loss became \(loss) at Adam step \(adam.step + 1)\(culprit); the weights of the last improving epoch are in the checkpoint; try a lower --learning-rate")
        }
        adam.step += 1
        let step = adam.step, config = adamConfig
        let m = adam.m.pointer, v = adam.v.pointer
        try pool.run { w in
            let begin = min(w * slice, padded), end = min(begin + slice, padded)
            if begin < end {
                reduceAndAdamUpdate(params: p, shardGrads: summed, shards: summedShards, stride: padded,
                                    m: m, v: v, begin: begin, end: end, step: step, config: config)
            }
        }
        timing.reduceAndUpdate += monotonicSeconds() - t2
        timing.steps += 1
        timing.samples += batch
        return loss
    }

    /// Teacher-forced mean loss over `indices` of `data` (no update).
    public func meanLoss(_ data: PatchSet, _ indices: [Int]) throws -> Double {
        if indices.isEmpty { return .nan }
        let shards = (indices.count + shardSize - 1) / shardSize
        let losses = UnsafeMutablePointer<Double>.allocate(capacity: shards)
        defer { losses.deallocate() }
        let p = params.buffer.pointer, shardSize = self.shardSize, workspaces = self.workspaces
        let queue = WorkerPool.WorkQueue(count: shards)
        try indices.withUnsafeBufferPointer { idx in
            try pool.run { w in
                guard let ws = workspaces[w], var s = queue.take() else { return }
                ws.prepareForward(p)
                repeat {
                    let lo = s * shardSize, hi = min(lo + shardSize, idx.count)
                    ws.load(data, indices: UnsafeBufferPointer(rebasing: idx[lo..<hi]))
                    losses[s] = ws.forward(p, rows: hi - lo)
                    guard let next = queue.take() else { break }
                    s = next
                } while true
            }
        }
        var sse = 0.0
        for s in 0..<shards { sse += losses[s] }
        let cfg = layout.config
        return sse / Double(indices.count * cfg.steps * cfg.outputSize)
    }

    public func resetTiming() { timing = StepTiming() }

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

    /// Floats the engine allocates for these settings: shard gradients plus every worker's
    /// workspace (for the up-front memory check).
    public static func estimatedFloats(layout: ParameterLayout, shardSize: Int, maxBatch: Int, workers: Int) -> Int {
        let c = layout.config, t = c.steps, n = shardSize, h = c.hidden
        let shards = (maxBatch + shardSize - 1) / shardSize
        var perWorker = (t + 1) * n * c.inputSize + t * n * c.outputSize * 2
        perWorker += c.layers * (t * n * 4 * h + 2 * (t + 1) * n * h + t * n * h)
        perWorker += 2 * t * n * 4 * h + 2 * t * n * h
        return (shards + 3) * layout.paddedCount + workers * perWorker
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
