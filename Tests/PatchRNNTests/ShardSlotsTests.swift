import Testing

@testable import PatchRNN

/// The minibatch draw that lets each MPI rank hold only its part of the training set.
@Suite("Shard slots")
struct ShardSlotsTests {
    static let shapes = [(64, 16, 1000), (64, 16, 54_000), (50, 16, 333), (7, 3, 100), (16, 16, 15), (256, 16, 5003)]

    @Test("an epoch is a permutation, and every shard holds only positions of its own slot", arguments: shapes)
    func epochOrderRespectsSlots(shape: (Int, Int, Int)) {
        let (batch, shard, count) = shape
        let slots = ShardSlots(batchSize: batch, shardSize: shard, count: count)
        let train = (0..<count).map { $0 * 3 + 1 }  // arbitrary file indices
        let order = slots.epochOrder(train, seed: 9, epoch: 4)
        #expect(order.sorted() == train)
        let slotOf = Dictionary(uniqueKeysWithValues: (0..<count).map { (train[$0], slots.slot(ofPosition: $0)) })
        var lo = 0
        while lo < count {
            let hi = min(lo + batch, count)
            for (n, i) in order[lo..<hi].enumerated() {
                #expect(slotOf[i] == n / shard, "minibatch at \(lo), entry \(n)")
            }
            lo = hi
        }
    }

    @Test("same seed and epoch, same order; another epoch, another order")
    func seeded() {
        let slots = ShardSlots(batchSize: 64, shardSize: 16, count: 5000)
        let train = Array(0..<5000)
        #expect(slots.epochOrder(train, seed: 1, epoch: 1) == slots.epochOrder(train, seed: 1, epoch: 1))
        #expect(slots.epochOrder(train, seed: 1, epoch: 1) != slots.epochOrder(train, seed: 1, epoch: 2))
        #expect(slots.epochOrder(train, seed: 1, epoch: 1) != slots.epochOrder(train, seed: 2, epoch: 1))
    }

    @Test(
        "ranks split the positions and the shards of every minibatch without gaps or overlaps",
        arguments: [1, 2, 3, 4, 5, 16, 20])
    func ranksPartition(size: Int) {
        let slots = ShardSlots(batchSize: 256, shardSize: 16, count: 10_007)
        let parts = (0..<size).map { slots.positions(rank: $0, size: size) }
        #expect(parts.flatMap { $0 }.sorted() == Array(0..<10_007))
        for shards in 1...slots.slots {
            let owned = (0..<size).map { slots.ownedShards(rank: $0, size: size, shards: shards) }
            #expect(owned.flatMap { Array($0) } == Array(0..<shards), "\(shards) shards over \(size) ranks")
        }
        // A rank's positions are exactly those of the slots it computes.
        for r in 0..<size {
            let mine = Set(slots.positions(rank: r, size: size))
            let ownedSlots = slots.shape.ownedSlots(rank: r, size: size)
            #expect(mine.allSatisfy { ownedSlots.contains(slots.slot(ofPosition: $0)) })
        }
    }
}
