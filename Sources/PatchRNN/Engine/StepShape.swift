/// How one optimizer step is cut: a minibatch of up to `batchSize` sequences in shards of
/// `shardSize` (the last may be smaller). Shard k of every minibatch is "slot k". The cut
/// depends only on these two numbers, never on the thread or rank count, so neither do the
/// results. Every part of training that needs the cut reads it here.
public struct StepShape: Sendable, Equatable, Codable {
    public var batchSize: Int
    public var shardSize: Int

    public init(batchSize: Int, shardSize: Int) {
        self.batchSize = batchSize
        self.shardSize = shardSize
    }

    /// A batch cut in shards of `shardSize`, or by the default rule (`defaultShardSize`) when
    /// that is nil; a shard larger than the batch is the batch.
    public init(batchSize: Int, shardSize: Int?) {
        self.init(batchSize: batchSize, shardSize: min(shardSize ?? Self.defaultShardSize(batchSize: batchSize), max(batchSize, 1)))
    }

    /// The shard size when none is asked for: batch / 16, kept within 4...16. From the batch
    /// alone, never from the thread count, so that the results stay the same on any machine:
    /// a batch of 64 becomes 16 shards of 4 (16 workers busy), 256 becomes 16 shards of 16,
    /// 1,024 becomes 64 shards of 16. Below 4 rows the per-step recurrent GEMM and the
    /// per-shard gradient buffer cost more than the extra parallelism gives; above 16 the
    /// GEMMs gain nothing and fewer workers can share a batch (docs/performance-notes.md).
    public static func defaultShardSize(batchSize: Int) -> Int { min(16, max(4, batchSize / 16)) }

    /// Shards of a full minibatch (= slots).
    public var slots: Int { (batchSize + shardSize - 1) / shardSize }

    /// Shards of a minibatch of `batch` sequences.
    public func shards(ofBatch batch: Int) -> Int { (batch + shardSize - 1) / shardSize }

    /// Positions of shard `s` within a minibatch of `batch` sequences.
    public func range(ofShard s: Int, batch: Int) -> Range<Int> {
        let lo = s * shardSize
        return lo..<min(lo + shardSize, batch)
    }

    /// The slots rank `rank` of `size` owns: a contiguous, balanced range (empty when there are
    /// more ranks than slots).
    public func ownedSlots(rank: Int, size: Int) -> Range<Int> {
        (rank * slots / size)..<((rank + 1) * slots / size)
    }

    /// The shards of a minibatch with `shards` shards that rank `rank` of `size` computes.
    public func ownedShards(rank: Int, size: Int, shards: Int) -> Range<Int> {
        let owned = ownedSlots(rank: rank, size: size)
        return min(owned.lowerBound, shards)..<min(owned.upperBound, shards)
    }
}
