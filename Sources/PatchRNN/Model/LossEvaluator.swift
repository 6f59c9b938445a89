import PatchRNNKernels

/// The teacher-forced mean loss (MSE over sequences x steps x outputs) of the current
/// parameters over a set of sequences, forward only, in blocks of shards the workers take from
/// a queue. The shards are fixed by `shardSize` and their losses are added in shard order, so
/// the result does not depend on the thread count.
package final class LossEvaluator: @unchecked Sendable {
    package let params: Parameters
    package let pool: WorkerPool
    package let shardSize: Int
    /// Shards a worker runs at once.
    package let blockShards: Int
    let workspaces: PerWorker<BlockWorkspace>

    /// With forward-only workspaces of its own (evaluation of a checkpoint).
    public convenience init(params: Parameters, pool: WorkerPool, shardSize: Int = 64, format: PanelFormat = .preferred) throws {
        let workspaces = PerWorker<BlockWorkspace>(count: pool.count)
        let layout = params.layout
        try pool.run { w in
            workspaces[w] = BlockWorkspace(layout: layout, capacity: shardSize, shardSize: shardSize, backward: false, format: format)
        }
        self.init(params: params, pool: pool, shardSize: shardSize, blockShards: 1, workspaces: workspaces)
    }

    /// On workspaces that already exist (the training engine's: validation needs no more memory).
    init(params: Parameters, pool: WorkerPool, shardSize: Int, blockShards: Int, workspaces: PerWorker<BlockWorkspace>) {
        self.params = params
        self.pool = pool
        self.shardSize = shardSize
        self.blockShards = blockShards
        self.workspaces = workspaces
    }

    /// Floats the forward-only workspaces of `workers` workers allocate.
    package static func floats(_ layout: ParameterLayout, workers: Int, shardSize: Int = 64) -> Int {
        workers * BlockWorkspace.floats(layout, capacity: shardSize, shardSize: shardSize, backward: false)
    }

    /// Mean loss over `indices` of `data` (NaN for none).
    package func meanLoss(_ data: PatchSet, _ indices: [Int]) throws -> Double {
        if indices.isEmpty { return .nan }
        let shards = (indices.count + shardSize - 1) / shardSize
        let blocks = (shards + blockShards - 1) / blockShards
        let losses = UnsafeMutablePointer<Double>.allocate(capacity: shards)
        defer { losses.deallocate() }
        let p = params.buffer.pointer, rowsPerBlock = shardSize * blockShards, workspaces = self.workspaces
        try indices.withUnsafeBufferPointer { idx in
            try pool.forEachItem(blocks, start: { w in workspaces[w]?.prepareForward(p) }) { w, b in
                guard let ws = workspaces[w] else { return }
                let lo = b * rowsPerBlock, hi = min(lo + rowsPerBlock, idx.count)
                ws.load(data, indices: UnsafeBufferPointer(rebasing: idx[lo..<hi]))
                ws.forward(p, rows: hi - lo, shardLosses: losses + b * blockShards)
            }
        }
        var sse = 0.0
        for s in 0..<shards { sse += losses[s] }
        let cfg = params.config
        return sse / Double(indices.count * cfg.steps * cfg.outputSize)
    }
}
