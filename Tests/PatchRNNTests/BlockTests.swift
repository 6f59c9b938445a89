import Foundation
import PatchRNNKernels
import Testing

@testable import PatchRNN

/// Each shard's gradient into a buffer of its own.
struct PerShardSink: GradientSink {
    let buffers: [FloatBuffer]
    func destination(shard: Int, region: GradientRegion) -> UnsafeMutablePointer<Float> { buffers[shard].pointer }
    func finished(shard: Int, region: GradientRegion) {}
}

/// Forward and backward of `rows` sequences of `data` (from `first`) as one block: the shards'
/// losses, gradients and the block's outputs.
func runBlock(
    _ params: Parameters, _ data: PatchSet, first: Int = 0, rows: Int, shardSize: Int, format: PanelFormat,
    gateOrder: GateOrder = .grouped, feedback: FeedbackDraw? = nil
) -> (losses: [Double], grads: [[Float]], outputs: [Float]) {
    let ws = BlockWorkspace(layout: params.layout, capacity: rows, shardSize: shardSize, format: format, gateOrder: gateOrder)
    let p = params.buffer.pointer, shards = ws.shardCount(rows: rows)
    ws.prepareForward(p)
    ws.prepareBackward(p)
    let indices = Array(first..<(first + rows))
    indices.withUnsafeBufferPointer { ws.load(data, indices: $0) }
    var losses = [Double](repeating: .nan, count: shards)
    losses.withUnsafeMutableBufferPointer { ws.forward(p, rows: rows, feedback: feedback, shardLosses: $0.baseAddress!) }
    let outputs = Array(UnsafeBufferPointer(start: ws.outputs, count: rows * params.config.steps * params.config.outputSize))
    var sink = PerShardSink(buffers: (0..<shards).map { _ in FloatBuffer(count: params.layout.paddedCount) })
    ws.backward(p, rows: rows, lossScale: 1e-3, sink: &sink)
    return (losses, sink.buffers.map(\.array), outputs)
}

@Suite("Blocks of shards and fused steps: the same bits as one shard at a time and as separate kernels")
struct BlockTests {
    static let shapes: [(hidden: Int, rows: Int, shard: Int)] = [
        (16, 12, 4), (32, 21, 5), (64, 64, 16), (64, 19, 7), (24, 9, 1), (48, 22, 3),
    ]

    @Test(
        "a block gives every shard the loss and gradient it gets alone (both cells, tiles, with and without sampling)",
        arguments: Cells.names, shapes)
    func blockEqualsShardsAlone(cell: String, shape: (hidden: Int, rows: Int, shard: Int)) throws {
        let params = Parameters.initialized(ModelConfig(cell: try Cells.resolve(cell), hidden: shape.hidden, layers: 2), seed: 3)
        let data = randomPatchSet(count: shape.rows, seed: 4)
        let ids = Array(100..<(100 + shape.rows))
        ids.withUnsafeBufferPointer { idp in
            for format in PanelFormat.all {
                for sampling in [false, true] {
                    let draw = sampling ? FeedbackDraw(probability: 0.5, seed: 9, epoch: 3, sequenceIDs: idp.baseAddress!) : nil
                    let block = runBlock(params, data, rows: shape.rows, shardSize: shape.shard, format: format, feedback: draw)
                    for j in 0..<block.losses.count {
                        let lo = j * shape.shard, hi = min(lo + shape.shard, shape.rows)
                        let alone = runBlock(
                            params, data, first: lo, rows: hi - lo, shardSize: shape.shard, format: format,
                            feedback: draw?.rows(from: lo))
                        let label =
                            "\(cell) \(format) H=\(shape.hidden) rows=\(shape.rows) shard=\(shape.shard) sampling=\(sampling) shard \(j)"
                        #expect(block.losses[j] == alone.losses[0], "\(label): loss")
                        #expect(block.grads[j] == alone.grads[0], "\(label): gradient")
                    }
                    if sampling {
                        #expect(block.outputs != runBlock(params, data, rows: shape.rows, shardSize: shape.shard, format: format).outputs)
                    }
                }
            }
        }
    }

    @Test(
        "fused recurrent steps equal the separate product and cell kernels bit for bit (training, both cells and tiles)",
        arguments: Cells.names, shapes)
    func fusedEqualsSeparate(cell: String, shape: (hidden: Int, rows: Int, shard: Int)) throws {
        let params = Parameters.initialized(ModelConfig(cell: try Cells.resolve(cell), hidden: shape.hidden, layers: 2), seed: 5)
        let data = randomPatchSet(count: shape.rows, seed: 6)
        let ids = Array(0..<shape.rows)
        ids.withUnsafeBufferPointer { idp in
            for format in PanelFormat.all {
                let grouped = PackedWeights(layout: params.layout, forms: .forward, format: format).gates
                for sampling in [false, true] {
                    let draw = sampling ? FeedbackDraw(probability: 0.5, seed: 2, epoch: 2, sequenceIDs: idp.baseAddress!) : nil
                    let fused = runBlock(params, data, rows: shape.rows, shardSize: shape.shard, format: format, feedback: draw)
                    let separate = runBlock(
                        params, data, rows: shape.rows, shardSize: shape.shard, format: format, gateOrder: .standard, feedback: draw)
                    let label =
                        "\(cell) \(format) H=\(shape.hidden) (\(grouped.isStandard ? "not grouped" : "groups of \(grouped.units)")) shard=\(shape.shard)"
                    #expect(fused.outputs == separate.outputs, "\(label): outputs")
                    #expect(fused.losses == separate.losses, "\(label): losses")
                    #expect(fused.grads == separate.grads, "\(label): gradients")
                }
            }
        }
    }

    @Test(
        "fused generation steps equal the separate products and cell kernels bit for bit (chunk tails included)",
        arguments: Cells.names, [(16, 13, 5), (32, 20, 7), (64, 70, 64), (48, 9, 9)])
    func fusedGenerationEqualsSeparate(cell: String, shape: (Int, Int, Int)) throws {
        let (hidden, count, chunk) = shape
        let params = Parameters.initialized(ModelConfig(cell: try Cells.resolve(cell), hidden: hidden, layers: 2), seed: 7)
        let data = randomPatchSet(count: count, seed: 8)
        for format in PanelFormat.all {
            func generate(_ order: GateOrder) -> [Float] {
                let ws = GenerationWorkspace(layout: params.layout, capacity: chunk, format: format, gateOrder: order)
                ws.prepare(params.buffer.pointer)
                let perImage = (Patches.count - Patches.topHalf) * Patches.patchSize
                var out = [Float](repeating: 0, count: count * perImage)
                var lo = 0
                while lo < count {
                    let hi = min(lo + chunk, count), idx = Array(lo..<hi)
                    out.withUnsafeMutableBufferPointer { o in
                        idx.withUnsafeBufferPointer { ws.generate(params.buffer.pointer, data, $0, into: o.baseAddress! + lo * perImage) }
                    }
                    lo = hi
                }
                return out
            }
            #expect(generate(.grouped) == generate(.standard), "\(cell) \(format) H=\(hidden) chunk=\(chunk)")
        }
    }

    @Test("summing the shards while hot gives the same weights as summing them all after the barrier", arguments: Cells.names)
    func sumWhileHot(cell: String) throws {
        func train(threads: Int, hot: Bool) throws -> [Float] {
            let data = randomPatchSet(count: 120, seed: 12)
            let params = Parameters.initialized(ModelConfig(cell: try Cells.resolve(cell), hidden: 16, layers: 2), seed: 13)
            let engine = try TrainingEngine(
                params: params, adamConfig: AdamConfig(), pool: makePool(threads),
                shape: StepShape(batchSize: 37, shardSize: 4), sumWhileHot: hot)
            let order = Array(0..<120)
            try order.withUnsafeBufferPointer { all in
                var lo = 0
                while lo < all.count {
                    let hi = min(lo + 37, all.count)
                    try engine.step(data, UnsafeBufferPointer(rebasing: all[lo..<hi]))
                    lo = hi
                }
            }
            return params.buffer.array
        }
        let reference = try train(threads: 1, hot: false)
        for threads in [1, 2, 3] {
            #expect(try train(threads: threads, hot: true) == reference, "\(cell), \(threads) thread(s)")
        }
    }

    @Test("block rows: every row in exactly one run, split rows exactly where a shard's own product had them")
    func blockRowRuns() {
        for format in PanelFormat.all {
            for (count, shard) in [(64, 4), (64, 16), (19, 7), (9, 1), (30, 8), (13, 13), (5, 2)] {
                let rows = BlockRows(count: count, shardSize: shard)
                for steps in [1, 8, 15] {
                    var seen = [Int](repeating: 0, count: steps * count)
                    var split: [Int] = []
                    rows.forEachRun(steps: steps, format: format) { run, isSplit in
                        for r in run { seen[r] += 1 }
                        if isSplit {
                            #expect(run.count == 1)
                            split.append(run.lowerBound)
                        }
                    }
                    #expect(seen.allSatisfy { $0 == 1 }, "\(format) \(count)/\(shard) steps \(steps): rows covered once")
                    // The same rows, from each shard's own product (rows t * n + b, m = steps * n).
                    var expected: [Int] = []
                    for j in 0..<rows.shards {
                        let r = rows.shard(j), n = r.count
                        for q in format.singleRowTail(m: steps * n) { expected.append((q / n) * count + r.lowerBound + q % n) }
                    }
                    #expect(split == expected.sorted(), "\(format) \(count)/\(shard) steps \(steps): split rows")
                }
            }
        }
    }
}
