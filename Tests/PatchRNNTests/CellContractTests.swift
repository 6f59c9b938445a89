import Foundation
import PatchRNNKernels
import Testing

@testable import PatchRNN

/// A NaN with a payload no computation produces: a gap still holding it bit for bit was not written.
let guardValue = Float(bitPattern: 0x7FC0_5A5A)

@Suite("The cell contract: every buffer a cell declares, and nothing outside it")
struct CellContractTests {
    // Hidden sizes below and above the input size (49): the default 64 makes layer 1's input
    // larger than layer 0's, which the shared scratch buffers must be sized for.
    static let shapes: [(hidden: Int, rows: Int, shard: Int)] = [(16, 12, 4), (24, 9, 2), (32, 21, 5), (5, 7, 3), (64, 10, 4)]

    @Test(
        "forward, backward and sampled steps write only inside the buffers they declare (guard values around each)",
        arguments: Cells.names, shapes)
    func trainingStaysInsideItsBuffers(cell: String, shape: (hidden: Int, rows: Int, shard: Int)) throws {
        let params = Parameters.initialized(ModelConfig(cell: try Cells.resolve(cell), hidden: shape.hidden, layers: 2), seed: 3)
        let data = randomPatchSet(count: shape.rows, seed: 4)
        let ids = Array(0..<shape.rows), p = params.buffer.pointer
        for format in PanelFormat.all {
            for order in [GateOrder.grouped, .standard] {
                for sampling in [false, true] {
                    // Room for a bigger block than the one that runs: a kernel that writes past the
                    // block's rows, as well as past a buffer's end, is caught.
                    let ws = BlockWorkspace(
                        layout: params.layout, capacity: shape.rows + 3, shardSize: shape.shard, format: format,
                        gateOrder: order, guardFloats: 64)
                    ws.storage.fillGaps(guardValue)
                    ws.prepareForward(p)
                    ws.prepareBackward(p)
                    ids.withUnsafeBufferPointer { idx in
                        ws.load(data, indices: idx)
                        let draw = sampling ? FeedbackDraw(probability: 0.5, seed: 1, epoch: 2, sequenceIDs: idx.baseAddress!) : nil
                        var losses = [Double](repeating: 0, count: ws.shardCount(rows: shape.rows))
                        losses.withUnsafeMutableBufferPointer {
                            ws.forward(p, rows: shape.rows, feedback: draw, shardLosses: $0.baseAddress!)
                        }
                    }
                    var sink = PerShardSink(
                        buffers: (0..<ws.shardCount(rows: shape.rows)).map { _ in FloatBuffer(count: params.layout.paddedCount) })
                    ws.backward(p, rows: shape.rows, lossScale: 1e-3, sink: &sink)
                    let label = "\(cell) \(format) \(order) H=\(shape.hidden) rows=\(shape.rows) shard=\(shape.shard) sampling=\(sampling)"
                    #expect(
                        ws.storage.overwrittenGaps(guardValue).isEmpty, "\(label): written past \(ws.storage.overwrittenGaps(guardValue))")
                }
            }
        }
    }

    @Test("generation steps write only inside the buffers they declare (guard values around each)", arguments: Cells.names)
    func generationStaysInsideItsBuffers(cell: String) throws {
        for (hidden, count, chunk) in [(16, 13, 5), (24, 9, 9), (5, 4, 6), (64, 7, 4)] {
            let params = Parameters.initialized(ModelConfig(cell: try Cells.resolve(cell), hidden: hidden, layers: 2), seed: 7)
            let data = randomPatchSet(count: count, seed: 8)
            for format in PanelFormat.all {
                for order in [GateOrder.grouped, .standard] {
                    let ws = GenerationWorkspace(layout: params.layout, capacity: chunk, format: format, gateOrder: order, guardFloats: 64)
                    ws.storage.fillGaps(guardValue)
                    ws.prepare(params.buffer.pointer)
                    let perImage = (Patches.count - Patches.topHalf) * Patches.patchSize
                    var out = [Float](repeating: 0, count: chunk * perImage)
                    let idx = Array(0..<min(chunk, count))
                    out.withUnsafeMutableBufferPointer { o in
                        idx.withUnsafeBufferPointer { ws.generate(params.buffer.pointer, data, $0, into: o.baseAddress!) }
                    }
                    #expect(
                        ws.storage.overwrittenGaps(guardValue).isEmpty,
                        "\(cell) \(format) \(order) H=\(hidden) chunk=\(chunk): written past \(ws.storage.overwrittenGaps(guardValue))")
                }
            }
        }
    }

    @Test("the guard values catch a write one float past a buffer, and name the buffer")
    func guardsCatchAnOverrun() {
        let params = Parameters.initialized(ModelConfig(hidden: 8, layers: 1), seed: 1)
        let ws = BlockWorkspace(layout: params.layout, capacity: 4, shardSize: 4, guardFloats: 64)
        ws.storage.fillGaps(guardValue)
        #expect(ws.storage.overwrittenGaps(guardValue).isEmpty)
        let plan = ws.storage.plan
        let i = plan.names.firstIndex(of: "layer 0: tanh(cells)") ?? plan.names.firstIndex(of: "layer 0: W_hn h + b_hn")!
        ws.storage.storage.pointer[plan.offsets[i] + plan.sizes[i]] = 0
        #expect(ws.storage.overwrittenGaps(guardValue) == [plan.names[i]])
    }
}
