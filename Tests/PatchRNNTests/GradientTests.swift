import Foundation
import PatchRNNKernels
import Testing

@testable import PatchRNN

@Suite("Gradients: finite differences, the straightforward reference, and PyTorch")
struct GradientTests {
    @Test(
        "every registered cell has its Double reference; a cell without one fails by name instead of being checked against another cell's")
    func referenceLookup() throws {
        for cell in Cells.all { #expect(try referenceModelType(cell.name).cell.name == cell.name) }
        let missing = #expect(throws: MissingReference.self) { try referenceModelType("no-such-cell") }
        #expect(missing?.description.contains("no reference model for the cell no-such-cell") == true, "\(String(describing: missing))")
    }

    @Test("every parameter tensor passes a central finite-difference check (tiny model, hidden 5)", arguments: Cells.names)
    func finiteDifferences(cell: String) throws {
        let cfg = ModelConfig(cell: try Cells.resolve(cell), hidden: 5, layers: 2)
        let params = Parameters.initialized(cfg, seed: 7)
        let data = randomPatchSet(count: 3, seed: 3)
        let fast = fastForwardBackward(params, data)
        // Loss in Double from the reference (exact math) for the perturbed weights: the fast
        // path's float32 loss would drown a small step in rounding noise.
        let seqs = sequenceArrays(data)
        var rng = SeededRandom(seed: 11)
        for v in params.layout.allViews {
            let torchValues = params.torchTensor(v)
            var largest = 0.0
            for _ in 0..<6 {
                let i = rng.below(v.count)
                let eps = 1e-3
                var plus = try referenceModel(params), minus = try referenceModel(params)
                plus.weights[v.name]![i] = Double(torchValues[i]) + eps
                minus.weights[v.name]![i] = Double(torchValues[i]) - eps
                let fd = (plus.run(seqs).loss - minus.run(seqs).loss) / (2 * eps)
                let analytic = Double(fast.grads[v.name]![i])
                #expect(
                    Tolerance(absolute: 2e-6, relative: 2e-3).accepts(analytic, fd),
                    "\(v.name)[\(i)]: analytic \(analytic), finite difference \(fd)")
                largest = max(largest, abs(fd))
            }
            // Zeros agreeing with zeros would prove nothing: the sampled gradients must be real.
            #expect(largest > 1e-6, "\(v.name): every sampled gradient is ~0")
        }
    }

    @Test(
        "fast path (with each GEMM tile) equals the straightforward implementation on odd shapes and shard splits",
        arguments: Cells.names, [(5, 1, 3, 3), (8, 2, 7, 3), (48, 2, 6, 4), (100, 1, 5, 2), (64, 3, 9, 4)])
    func matchesReference(cell: String, shape: (Int, Int, Int, Int)) throws {
        let (hidden, layers, batch, shard) = shape
        let params = Parameters.initialized(
            ModelConfig(cell: try Cells.resolve(cell), hidden: hidden, layers: layers), seed: UInt64(hidden))
        let data = randomPatchSet(count: batch, seed: 5)
        let seqs = sequenceArrays(data)
        let ref = try referenceModel(params).run(seqs)
        for format in PanelFormat.all {
            let fast = fastForwardBackward(params, data, shardSize: shard, format: format)
            expectMatch(fast, ref, params, "\(format) \(cell) H=\(hidden) L=\(layers) B=\(batch) shard=\(shard)")
        }
    }
}

/// The fast path's loss, outputs and every gradient against the reference's, at the
/// tolerances Float against Double allows.
func expectMatch(
    _ fast: (loss: Double, outputs: [Float], grads: [String: [Float]]),
    _ ref: (loss: Double, outputs: [[Double]], grads: [String: [Double]]), _ params: Parameters, _ label: String
) {
    #expect(Tolerance(absolute: 0, relative: 1e-5).accepts(fast.loss, ref.loss), "\(label) loss \(fast.loss) vs \(ref.loss)")
    let refOutputs = ref.outputs.flatMap { $0 }.map(Float.init)
    #expect(worstMismatch(fast.outputs, refOutputs, Tolerance(absolute: 2e-6, relative: 1e-5)) == nil, "\(label) outputs")
    for v in params.layout.allViews {
        let expected = ref.grads[v.name]!.map(Float.init)
        let scale = Double(expected.map { abs($0) }.max() ?? 1)
        let m = worstMismatch(fast.grads[v.name]!, expected, Tolerance(absolute: 1e-5 * scale + 1e-9, relative: 1e-4))
        #expect(m == nil, "\(label) \(v.name): \(m ?? "")")
    }
}

@Suite("Scheduled sampling against the straightforward implementation")
struct ScheduledSamplingReferenceTests {
    @Test(
        "a sampled forward and backward (each tile, odd shard splits) equal the reference fed the same clipped predictions",
        arguments: Cells.names)
    func sampledMatchesReference(cell: String) throws {
        let count = 7
        let params = Parameters.initialized(ModelConfig(cell: try Cells.resolve(cell), hidden: 12, layers: 2), seed: 3)
        // A larger output bias so that some fed-back predictions leave [0, 1] and the clip matters.
        for j in 0..<params.config.outputSize { params.buffer[params.layout.denseBias.offset + j] = Float(j % 5) * 0.4 - 0.5 }
        let data = randomPatchSet(count: count, seed: 17)
        let ids = (0..<count).map { $0 * 31 + 5 }  // training-file indices: the draws' names for the rows
        try ids.withUnsafeBufferPointer { idp in
            let draw = FeedbackDraw(probability: 0.5, seed: 4, epoch: 3, sequenceIDs: idp.baseAddress!)
            let fed = (0..<count).map { b in (Patches.topHalf..<15).filter { draw.feedsBack(row: b, step: $0) }.count }.reduce(0, +)
            #expect(fed > 10 && fed < 39, "about half of the 49 bottom-half inputs are fed back (\(fed))")
            let ref = try referenceModel(params).runSampled(sequenceArrays(data)) { b, t in draw.feedsBack(row: b, step: t) }
            #expect(ref.inputs.flatMap { $0 }.contains(0) || ref.inputs.flatMap { $0 }.contains(1), "the clip should act")
            let teacherForced = try referenceModel(params).run(sequenceArrays(data))
            #expect(abs(ref.loss - teacherForced.loss) > 1e-6 * teacherForced.loss, "feeding back changes the loss")
            for format in PanelFormat.all {
                let fast = fastForwardBackward(params, data, shardSize: 3, format: format, feedback: draw)
                expectMatch(fast, (ref.loss, ref.outputs, ref.grads), params, "sampled \(format) \(cell)")
            }
        }
    }
}

@Suite("Generation against the straightforward implementation")
struct GenerationReferenceTests {
    @Test("generation's FLOP count: both layers on 15 steps, the Dense layer on the 8 generated ones")
    func generationFlops() throws {
        // By hand: LSTM 4 gates x 64 x (49 + 64) and x (64 + 64) multiply-adds a step, GRU 3 gates;
        // the Dense layer 64 x 49; x 2 FLOPs.
        let lstm = ModelConfig(cell: try Cells.resolve("lstm")), gru = ModelConfig(cell: try Cells.resolve("gru"))
        #expect(lstm.generationFlopsPerImage == Double(2 * (15 * (4 * 64 * 113 + 4 * 64 * 128) + 8 * 64 * 49)))
        #expect(gru.generationFlopsPerImage == Double(2 * (15 * (3 * 64 * 113 + 3 * 64 * 128) + 8 * 64 * 49)))
        // A teacher-forced forward pass runs the Dense layer on all 15 steps: 7 more.
        for c in [lstm, gru] {
            #expect(c.forwardFlopsPerSample - c.generationFlopsPerImage == Double(2 * 7 * 64 * 49))
        }
    }

    @Test(
        "free-running bottom halves (with each GEMM tile) equal the reference on odd shapes and chunk splits",
        arguments: Cells.names, [(5, 1, 7, 3), (48, 2, 10, 4), (64, 3, 9, 64), (100, 2, 5, 2)])
    func matchesReference(cell: String, shape: (Int, Int, Int, Int)) throws {
        let (hidden, layers, count, chunk) = shape
        let params = Parameters.initialized(
            ModelConfig(cell: try Cells.resolve(cell), hidden: hidden, layers: layers), seed: UInt64(hidden + layers))
        // Larger output bias so that some generated pixels leave [0, 1] and the clipping matters.
        for j in 0..<params.config.outputSize { params.buffer[params.layout.denseBias.offset + j] = Float(j % 7) * 0.3 - 0.6 }
        let data = randomPatchSet(count: count, seed: 11)
        let reference = try referenceModel(params)
        var expected: [Float] = []
        for i in 0..<count {
            expected += reference.generate(Array(UnsafeBufferPointer(start: data.sequence(i), count: PatchSet.sequenceLength))).map(
                Float.init)
        }
        #expect(expected.contains(0) && expected.contains(1), "the test should exercise clipping")
        for format in PanelFormat.all {
            let generator = try Generator(params: params, pool: makePool(2), chunkSize: chunk, format: format)
            let fast = try generator.bottomHalves(data, Array(0..<count)).array
            #expect(worstMismatch(fast, expected, Tolerance(absolute: 1e-5, relative: 1e-4)) == nil, "\(format) H=\(hidden) L=\(layers)")
        }
    }
}

/// A cell without a PyTorch fixture: its golden tests fail with this, saying how to make one.
struct MissingGoldenFixture: Error, CustomStringConvertible {
    let cell: String
    var description: String {
        "no PyTorch fixture for the cell \(cell): add its seed to SEEDS in scripts/golden_pytorch.py, run it with --cell \(cell) "
            + "and commit Tests/PatchRNNTests/Fixtures/golden_\(cell).json"
    }
}

@Suite("Golden values from PyTorch (scripts/golden_pytorch.py), for each cell")
struct GoldenTests {
    struct Golden: Decodable {
        struct Tensor: Decodable {
            let shape: [Int]
            let values: [Float]
        }
        let hidden: Int, layers: Int, batch: Int
        let sequences: [Float]
        let state: [String: Tensor]
        let loss: Double
        let outputs: [Float]
        let grads: [String: [Float]]
        let adamLosses: [Double]
        let stateAfter3AdamSteps: [String: [Float]]
        let generatedBottoms: [Float]

        enum CodingKeys: String, CodingKey {
            case hidden, layers, batch, sequences, state, loss, outputs, grads
            case adamLosses = "adam_losses"
            case stateAfter3AdamSteps = "state_after_3_adam_steps"
            case generatedBottoms = "generated_bottoms"
        }
    }

    /// The fixture of the cell named `cell` (Fixtures/golden_<cell>.json, what
    /// `scripts/golden_pytorch.py --cell <cell>` writes), its batch and its weights.
    func load(cell: String) throws -> (Golden, Parameters, PatchSet) {
        let url = fixtureURL("golden_\(cell).json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw MissingGoldenFixture(cell: cell) }
        let g = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        let params = Parameters(layout: ParameterLayout(ModelConfig(cell: try Cells.resolve(cell), hidden: g.hidden, layers: g.layers)))
        for v in params.layout.allViews {
            let t = try #require(g.state[v.name], "\(url.lastPathComponent) lacks \(v.name)")
            #expect(t.shape == v.torchShape, "\(v.name) shape")
            params.setTorchTensor(v, t.values)
        }
        let data = PatchSet(sequences: FloatBuffer(g.sequences), labels: Array(repeating: 0, count: g.batch))
        return (g, params, data)
    }

    @Test("loss, outputs and every gradient match PyTorch", arguments: Cells.names)
    func forwardBackward(cell: String) throws {
        let (g, params, data) = try load(cell: cell)
        let fast = fastForwardBackward(params, data, shardSize: 2)
        #expect(Tolerance(absolute: 0, relative: 1e-5).accepts(fast.loss, g.loss), "loss \(fast.loss) vs torch \(g.loss)")
        #expect(worstMismatch(fast.outputs, g.outputs, Tolerance(absolute: 2e-6, relative: 1e-5)) == nil)
        for v in params.layout.allViews {
            let expected = try #require(g.grads[v.name])
            let scale = Double(expected.map { abs($0) }.max() ?? 1)
            let m = worstMismatch(fast.grads[v.name]!, expected, Tolerance(absolute: 1e-5 * scale, relative: 1e-4))
            #expect(m == nil, "\(v.name): \(m ?? "")")
        }
    }

    @Test("three Adam steps through the engine match torch.optim.Adam", arguments: Cells.names)
    func adamSteps(cell: String) throws {
        let (g, params, data) = try load(cell: cell)
        let engine = try TrainingEngine(params: params, adamConfig: AdamConfig(), pool: makePool(2), shardSize: 2, maxBatch: g.batch)
        let all = Array(0..<g.batch)
        for k in 0..<3 {
            let loss = try all.withUnsafeBufferPointer { try engine.step(data, $0) }
            #expect(
                Tolerance(absolute: 0, relative: 1e-5).accepts(loss, g.adamLosses[k]), "step \(k + 1) loss \(loss) vs \(g.adamLosses[k])")
        }
        for v in params.layout.allViews {
            let expected = try #require(g.stateAfter3AdamSteps[v.name])
            let m = worstMismatch(params.torchTensor(v), expected, Tolerance(absolute: 2e-6, relative: 1e-5))
            #expect(m == nil, "\(v.name) after 3 steps: \(m ?? "")")
        }
    }

    @Test("free-running generation matches PyTorch", arguments: Cells.names)
    func generation(cell: String) throws {
        let (g, params, data) = try load(cell: cell)
        let generator = try Generator(params: params, pool: makePool(2), chunkSize: 2)
        let bottoms = try generator.bottomHalves(data, Array(0..<g.batch))
        #expect(worstMismatch(bottoms.array, g.generatedBottoms, Tolerance(absolute: 1e-5, relative: 1e-4)) == nil)
    }
}
