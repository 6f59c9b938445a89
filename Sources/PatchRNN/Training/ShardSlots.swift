/// How each epoch's minibatches are drawn, so that every process (MPI rank) needs only its own
/// part of the training set, while the minibatches themselves do not depend on how many
/// processes or threads there are.
///
/// A minibatch of B sequences is cut into S shards (`StepShape`); shard k of every minibatch
/// is "slot k". The training positions are dealt to the slots once (position j goes to slot
/// (j mod B) / shardSize), each epoch shuffles every slot's part on its own (seeded by seed,
/// epoch and slot), and minibatch m takes the m-th shard-sized piece of each part, in slot
/// order. A rank that owns slots k0..<k1 owns those shards of every minibatch and so reads only
/// those parts. The last, smaller minibatch of an epoch has the same cut as any batch of its
/// size: full shards first, then one partial shard.
package struct ShardSlots: Sendable, Equatable {
    package let shape: StepShape
    package let count: Int  // training positions

    package init(shape: StepShape, count: Int) {
        precondition(shape.batchSize >= 1 && shape.shardSize >= 1 && count >= 0)
        self.shape = shape
        self.count = count
    }

    package init(batchSize: Int, shardSize: Int, count: Int) {
        self.init(shape: StepShape(batchSize: batchSize, shardSize: shardSize), count: count)
    }

    package var batchSize: Int { shape.batchSize }
    package var shardSize: Int { shape.shardSize }
    package var slots: Int { shape.slots }

    /// Sequences slot k contributes to a full minibatch.
    package func width(ofSlot k: Int) -> Int { min(shardSize, batchSize - k * shardSize) }

    package func slot(ofPosition j: Int) -> Int { (j % batchSize) / shardSize }

    /// The training positions dealt to slot k, ascending.
    package func positions(inSlot k: Int) -> [Int] {
        let w = width(ofSlot: k)
        var result: [Int] = []
        result.reserveCapacity(count / max(slots, 1) + w)
        var base = 0
        while base < count {
            let lo = base + k * shardSize
            if lo < count { for j in lo..<min(lo + w, count) { result.append(j) } }
            base += batchSize
        }
        return result
    }

    /// The epoch's training order: `train[j]` for the positions j, minibatch after minibatch.
    package func epochOrder(_ train: [Int], seed: UInt64, epoch: Int) -> [Int] {
        precondition(train.count == count)
        let parts = (0..<slots).map { k -> [Int] in
            var part = positions(inSlot: k)
            var rng = SeededRandom(seed: seed, stream: "shuffle-epoch-\(epoch)-slot-\(k)")
            rng.shuffle(&part)
            return part
        }
        var order: [Int] = []
        order.reserveCapacity(count)
        var m = 0
        while order.count < count {
            for k in 0..<slots {
                let w = width(ofSlot: k), part = parts[k]
                let lo = m * w
                if lo < part.count { for j in part[lo..<min(lo + w, part.count)] { order.append(train[j]) } }
            }
            m += 1
        }
        return order
    }

    /// The shards of a minibatch with `shards` shards that rank `rank` of `size` computes.
    package func ownedShards(rank: Int, size: Int, shards: Int) -> Range<Int> {
        shape.ownedShards(rank: rank, size: size, shards: shards)
    }

    /// The training positions rank `rank` of `size` reads: the parts of its slots, ascending.
    package func positions(rank: Int, size: Int) -> [Int] {
        shape.ownedSlots(rank: rank, size: size).flatMap { positions(inSlot: $0) }.sorted()
    }
}
