import Foundation
import Testing
@testable import PatchRNN

/// The GRU cell through every path the LSTM has: finite differences, the straightforward
/// Double reference (ReferenceGRU.swift), thread-count determinism, checkpoints. (PyTorch's
/// nn.GRU: GoldenTests with Fixtures/golden_gru.json; resume: ResumeTests.)
@Suite("GRU: gradients, reference, PyTorch, determinism")
struct GRUTests {
    func config(hidden: Int, layers: Int) -> ModelConfig { ModelConfig(cell: GRUCell.self, hidden: hidden, layers: layers) }

    func sequences(_ data: PatchSet) -> [[Float]] {
        (0..<data.count).map { Array(UnsafeBufferPointer(start: data.sequence($0), count: PatchSet.sequenceLength)) }
    }

    @Test("every GRU parameter tensor passes a central finite-difference check (hidden 5)")
    func finiteDifferences() {
        let params = Parameters.initialized(config(hidden: 5, layers: 2), seed: 7)
        let data = randomPatchSet(count: 3, seed: 3)
        let fast = fastForwardBackward(params, data)
        let seqs = sequences(data)
        var rng = SeededRandom(seed: 11)
        for v in params.layout.allViews {
            let torchValues = params.torchTensor(v)
            var largest = 0.0
            for _ in 0..<6 {
                let i = rng.below(v.count)
                let eps = 1e-3
                var plus = ReferenceGRU(params), minus = ReferenceGRU(params)
                plus.weights[v.name]![i] = Double(torchValues[i]) + eps
                minus.weights[v.name]![i] = Double(torchValues[i]) - eps
                let fd = (plus.run(seqs).loss - minus.run(seqs).loss) / (2 * eps)
                let analytic = Double(fast.grads[v.name]![i])
                #expect(Tolerance(absolute: 2e-6, relative: 2e-3).accepts(analytic, fd),
                        "\(v.name)[\(i)]: analytic \(analytic), finite difference \(fd)")
                largest = max(largest, abs(fd))
            }
            // A check of zeros against zeros would prove nothing.
            #expect(largest > 1e-6, "\(v.name): every sampled gradient is ~0")
        }
    }

    @Test("the fast GRU path equals the straightforward implementation on odd shapes and shard splits",
          arguments: [(5, 1, 3, 3), (8, 2, 7, 3), (48, 2, 6, 4), (64, 2, 9, 4), (100, 3, 5, 2)])
    func matchesReference(shape: (Int, Int, Int, Int)) {
        let (hidden, layers, batch, shard) = shape
        let params = Parameters.initialized(config(hidden: hidden, layers: layers), seed: UInt64(hidden))
        let data = randomPatchSet(count: batch, seed: 5)
        let fast = fastForwardBackward(params, data, shardSize: shard)
        let ref = ReferenceGRU(params).run(sequences(data))
        #expect(Tolerance(absolute: 0, relative: 1e-5).accepts(fast.loss, ref.loss), "loss \(fast.loss) vs \(ref.loss)")
        #expect(worstMismatch(fast.outputs, ref.outputs.flatMap { $0 }.map(Float.init), Tolerance(absolute: 2e-6, relative: 1e-5)) == nil)
        for v in params.layout.allViews {
            let expected = ref.grads[v.name]!.map(Float.init)
            let scale = Double(expected.map { abs($0) }.max() ?? 1)
            let m = worstMismatch(fast.grads[v.name]!, expected, Tolerance(absolute: 1e-5 * scale + 1e-9, relative: 1e-4))
            #expect(m == nil, "H=\(hidden) L=\(layers) B=\(batch) shard=\(shard) \(v.name): \(m ?? "")")
        }
    }

    @Test("free-running GRU generation equals the reference on odd shapes and chunk splits",
          arguments: [(5, 1, 7, 3), (48, 2, 10, 4), (64, 3, 9, 64), (100, 2, 5, 2)])
    func generationMatchesReference(shape: (Int, Int, Int, Int)) throws {
        let (hidden, layers, count, chunk) = shape
        let params = Parameters.initialized(config(hidden: hidden, layers: layers), seed: UInt64(hidden + layers))
        for j in 0..<params.config.outputSize { params.buffer[params.layout.denseBias.offset + j] = Float(j % 7) * 0.3 - 0.6 }
        let data = randomPatchSet(count: count, seed: 11)
        let generator = try Generator(params: params, pool: makePool(2), chunkSize: chunk)
        let fast = try generator.bottomHalves(data, Array(0..<count)).array
        let reference = ReferenceGRU(params)
        let expected = sequences(data).flatMap { reference.generate($0).map(Float.init) }
        #expect(expected.contains(0) && expected.contains(1), "the test should exercise clipping")
        #expect(worstMismatch(fast, expected, Tolerance(absolute: 1e-5, relative: 1e-4)) == nil, "H=\(hidden) L=\(layers)")
    }

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

    @Test("the memory estimate reads the same plans as the allocations", arguments: ["lstm", "gru"])
    func plansMatchAllocations(cell: String) throws {
        let layout = ParameterLayout(ModelConfig(cell: try Cells.resolve(cell), hidden: 24, layers: 3))
        for backward in [true, false] {
            let ws = ShardWorkspace(layout: layout, capacity: 7, backward: backward)
            #expect(ws.allocatedFloats == ShardWorkspace.floats(layout, capacity: 7, backward: backward))
        }
        let g = GenerationWorkspace(layout: layout, capacity: 9)
        #expect(g.allocatedFloats == GenerationWorkspace.floats(layout, capacity: 9))
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
