import Foundation
import Testing

@testable import PatchRNN

/// The engine as a many-core server runs it, on this machine's few cores: 16, 64 and 192
/// unpinned workers (an oversubscribed pool) must train the default model to the same bits as
/// one worker. This runs the work queue with more workers than shards and shards that do not
/// divide among the workers, the per-worker sum slices of 65,920 parameters at counts that do
/// not divide them, and each worker's first touch of its slices.
@Suite("Many workers on few cores: 16, 64, 192 workers == 1, bit for bit", .serialized)
struct ManyWorkersTests {
    struct Setting: Sendable, CustomStringConvertible {
        let cell: any RecurrentCell.Type
        let sampling: Bool
        let batch: Int, shard: Int
        var description: String { "\(cell.name), batch \(batch) in shards of \(shard)\(sampling ? ", scheduled sampling" : "")" }
    }

    /// One epoch over `sequences` in minibatches of `batch` (the last shorter), then the
    /// validation loss: the weights and every loss.
    func train(_ s: Setting, workers: Int, sequences: Int) throws -> (weights: [Float], losses: [Double]) {
        let data = randomPatchSet(count: sequences, seed: 11)
        let params = Parameters.initialized(ModelConfig(cell: s.cell), seed: 3)
        let pool = makePool(workers)
        let engine = try TrainingEngine(
            params: params, adamConfig: AdamConfig(learningRate: 0.01), pool: pool,
            shape: StepShape(batchSize: s.batch, shardSize: s.shard))
        var losses: [Double] = []
        let order = Array((0..<sequences).reversed())
        try order.withUnsafeBufferPointer { all in
            var lo = 0
            while lo < all.count {
                let hi = min(lo + s.batch, all.count)
                let feedback = s.sampling ? FeedbackDraw(probability: 0.5, seed: 2, epoch: 1, sequenceIDs: all.baseAddress! + lo) : nil
                losses.append(try engine.step(data, UnsafeBufferPointer(rebasing: all[lo..<hi]), feedback: feedback))
                lo = hi
            }
        }
        losses.append(try engine.meanLoss(data, Array(0..<min(100, sequences))))
        return (params.buffer.array, losses)
    }

    static let settings: [Setting] = [
        // 25 shards of 4 (+ a last minibatch of 30: 8 shards, the last of 2): fewer shards than
        // 64 or 192 workers, and 25 does not divide among 16.
        Setting(cell: LSTMCell.self, sampling: false, batch: 100, shard: 4),
        Setting(cell: GRUCell.self, sampling: false, batch: 100, shard: 4),
        Setting(cell: LSTMCell.self, sampling: true, batch: 100, shard: 4),
        Setting(cell: GRUCell.self, sampling: true, batch: 100, shard: 4),
        // 250 shards of 4: more than 192, so every worker has one and 58 have two.
        Setting(cell: LSTMCell.self, sampling: false, batch: 1000, shard: 4),
        Setting(cell: GRUCell.self, sampling: true, batch: 1000, shard: 4),
    ]

    @Test("weights and losses equal one worker's", arguments: settings)
    func sameBitsAsOneWorker(setting: Setting) throws {
        let sequences = setting.batch * 2 + 30
        let (w1, l1) = try train(setting, workers: 1, sequences: sequences)
        #expect(w1.count == ParameterLayout(ModelConfig(cell: setting.cell)).paddedCount)
        #expect(l1.count == 4 && l1.allSatisfy(\.isFinite))
        for n in [16, 64, 192] {
            let (w, l) = try train(setting, workers: n, sequences: sequences)
            #expect(l == l1, "\(setting), \(n) workers: losses \(l) vs \(l1)")
            if let first = w.indices.first(where: { w[$0] != w1[$0] }) {
                Issue.record("\(setting), \(n) workers: weight \(first) is \(w[first]), one worker gave \(w1[first])")
            }
        }
    }

    @Test("a pool with more workers than CPUs says so; one per CPU does not")
    func oversubscriptionIsReported() throws {
        let cpus = WorkerPool.availableCPUs
        #expect(makePool(cpus + 1).isOversubscribed)
        #expect(!makePool(cpus).isOversubscribed)
        let pool = try WorkerPool.make(threads: 192, topology: try Topology(), oversubscribe: true)
        #expect(pool.count == 192 && pool.placement.allSatisfy { $0 == nil } && pool.isOversubscribed)
        #expect(throws: PatchRNNError.self) {
            try WorkerPool.make(threads: 2, topology: try Topology(), cores: [0, 1], oversubscribe: true)
        }
        #expect(throws: PatchRNNError.self) { try WorkerPool.make(threads: WorkerPool.maxUnpinnedThreads + 1, topology: nil) }
    }
}
