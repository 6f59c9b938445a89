import Foundation
import Testing
@testable import PatchRNN

/// What is particular to the GRU: thread-count determinism and checkpoints in nn.GRU's names.
/// The tests every cell shares run for it too: finite differences and the Double reference
/// (GradientTests, ReferenceGRU.swift), PyTorch's nn.GRU (GoldenTests, golden_gru.json),
/// resume (ResumeTests).
@Suite("GRU: determinism and checkpoints")
struct GRUTests {
    func config(hidden: Int, layers: Int) -> ModelConfig { ModelConfig(cell: GRUCell.self, hidden: hidden, layers: layers) }

    @Test("GRU training gives bit-identical weights and losses with 1, 2, 3 and 4 threads")
    func deterministicAcrossThreadCounts() throws {
        func train(threads: Int) throws -> ([Float], [Double]) {
            let data = randomPatchSet(count: 150, seed: 8)
            let params = Parameters.initialized(config(hidden: 20, layers: 2), seed: 42)
            let engine = try TrainingEngine(params: params, adamConfig: AdamConfig(), pool: makePool(threads), shardSize: 8, maxBatch: 37)
            var losses: [Double] = []
            try Array(0..<150).withUnsafeBufferPointer { all in
                var lo = 0
                while lo < all.count {
                    let hi = min(lo + 37, all.count)
                    losses.append(try engine.step(data, UnsafeBufferPointer(rebasing: all[lo..<hi])))
                    lo = hi
                }
            }
            losses.append(try engine.meanLoss(data, Array(0..<50)))
            return (params.buffer.array, losses)
        }
        let (w1, l1) = try train(threads: 1)
        for n in [2, 3, 4] {
            let (w, l) = try train(threads: n)
            #expect(w == w1, "weights differ with \(n) threads")
            #expect(l == l1, "losses differ with \(n) threads")
        }
        #expect(l1.last! < l1.first!, "training lowered the loss")
    }

    @Test("a GRU checkpoint uses PyTorch's nn.GRU names and shapes, records its cell, and loads as a GRU")
    func checkpoint() throws {
        let dir = try temporaryDirectory()
        let params = Parameters.initialized(config(hidden: 12, layers: 2), seed: 3)
        var options = TrainingOptions()
        options.model = params.config
        try Safetensors.save(params, metadata: options.summary(epoch: 1), to: "\(dir)/m.safetensors")
        let (loaded, file) = try Safetensors.load(path: "\(dir)/m.safetensors")
        #expect(loaded.config.cellName == "gru")
        #expect(loaded.buffer.array == params.buffer.array)
        #expect(file.metadata["cell"] == "gru" && file.metadata["gate_order"] == "r,z,n")
        #expect(file.tensors["gru.weight_ih_l0"]?.shape == [36, 49])
        #expect(file.tensors["gru.weight_hh_l1"]?.shape == [36, 12])
        #expect(file.tensors["gru.bias_hh_l1"]?.shape == [36])
        #expect(throws: PatchRNNError.self) { try Cells.check(requested: "lstm", against: loaded.config, file: "m") }
        #expect(throws: Never.self) { try Cells.check(requested: "gru", against: loaded.config, file: "m") }
    }
}
