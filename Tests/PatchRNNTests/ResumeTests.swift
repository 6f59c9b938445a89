import Foundation
import Testing

@testable import PatchRNN

@Suite("Interruption and resume", .serialized)
struct ResumeTests {
    let data = randomPatchSet(count: 120, seed: 21)

    func options(cell: any RecurrentCell.Type = LSTMCell.self) -> TrainingOptions {
        var o = TrainingOptions()
        o.model = ModelConfig(cell: cell, hidden: 16, layers: 2)
        o.batchSize = 20
        o.shardSize = 8
        o.maxEpochs = 4
        o.patience = 3
        o.lrPatience = 1
        o.seed = 9
        // The defaults' generation-aware training, with sampling well under way by epoch 2, so
        // that resuming has the feedback draws and the val_bottom monitor to get right.
        o.monitor = .valBottom
        o.sampling = ScheduledSampling(maxProbability: 0.5, rampEpochs: 1)
        return o
    }

    func trainer(
        _ params: Parameters, threads: Int, resumePath: String? = nil, interruptSignal: (() -> Int32)? = nil,
        resume: ResumeState? = nil
    ) throws -> Trainer {
        var o = options()
        o.model = params.config
        let pool = makePool(threads)
        let engine = try TrainingEngine(
            params: params, adamConfig: AdamConfig(learningRate: o.learningRate),
            pool: pool, shardSize: o.shape.shardSize, maxBatch: o.batchSize)
        var configuration = Trainer.Configuration(options: o)
        configuration.generator = try Generator(params: params, pool: pool)
        configuration.resumePath = resumePath
        if let interruptSignal { configuration.interruptSignal = interruptSignal }
        return try Trainer(
            configuration, engine: engine, data: data, split: Split(count: data.count, validationFraction: 0.2, seed: o.seed),
            reporter: ProgressReporter(quiet: true), resume: resume)
    }

    @Test(
        "interrupted mid-epoch or at an epoch's end, then resumed: bit-identical to an uninterrupted run, for each cell",
        arguments: Cells.names, [7, 5, 13])  // 96 training sequences / 20 = 5 steps per epoch: step 5 ends epoch 1
    func resumeIsExact(cellName: String, stopAfter: Int) throws {
        let cell = try Cells.resolve(cellName)
        let straight = Parameters.initialized(options(cell: cell).model, seed: 9)
        let a = try trainer(straight, threads: 2)
        let expected = try a.train()

        let dir = try temporaryDirectory()
        let first = Parameters.initialized(options(cell: cell).model, seed: 9)
        var steps = 0
        let b = try trainer(
            first, threads: 1, resumePath: dir + "/resume.safetensors",
            interruptSignal: {
                steps += 1
                return steps == stopAfter ? 2 : 0
            })
        do {
            _ = try b.train()
            Issue.record("training was not interrupted")
        } catch let i as TrainingInterrupted {
            #expect(i.signal == 2)
            #expect(i.progress.globalStep == stopAfter)
        }
        let (loaded, file) = try Safetensors.load(path: dir + "/resume.safetensors")
        let c = try trainer(loaded, threads: 3, resume: try ResumeState.read(file, name: "resume", layout: loaded.layout))
        let resumed = try c.train()
        #expect(loaded.buffer.array == straight.buffer.array, "\(cellName): final weights differ after resuming at step \(stopAfter)")
        #expect(resumed.history.map(\.valLoss) == expected.history.map(\.valLoss))
        #expect(resumed.history.map(\.trainLoss) == expected.history.map(\.trainLoss))
        #expect(resumed.bestEpoch == expected.bestEpoch)
    }

    @Test("interrupted five times at random steps and resumed each time: bit-identical to an uninterrupted run")
    func soak() throws {
        let straight = Parameters.initialized(options().model, seed: 9)
        let expected = try trainer(straight, threads: 2).train()
        let dir = try temporaryDirectory()
        var rng = SeededRandom(seed: 12)
        var current = Parameters.initialized(options().model, seed: 9)
        var resume: ResumeState?
        var stops: [Int] = []
        for round in 0..<6 {
            var steps = 0
            let stopAfter = round < 5 ? 1 + rng.below(3) : Int.max  // at most 15 of the 20 steps
            let t = try trainer(
                current, threads: 1 + round % 3, resumePath: dir + "/resume.safetensors",
                interruptSignal: {
                    steps += 1
                    return steps == stopAfter ? 15 : 0
                }, resume: resume)
            do {
                let result = try t.train()
                #expect(round == 5, "a run meant to be interrupted finished")
                #expect(result.history.map(\.valLoss) == expected.history.map(\.valLoss))
                break
            } catch let i as TrainingInterrupted {
                stops.append(i.progress.globalStep)
                let (loaded, file) = try Safetensors.load(path: dir + "/resume.safetensors")
                current = loaded
                resume = try ResumeState.read(file, name: "resume", layout: loaded.layout)
            }
        }
        #expect(stops.count == 5, "stopped at \(stops)")
        #expect(current.buffer.array == straight.buffer.array, "weights differ after stops at \(stops)")
    }

    @Test("a weights-only checkpoint is refused as a resume point with a clear message")
    func weightsOnly() throws {
        let dir = try temporaryDirectory()
        let p = Parameters.initialized(options().model, seed: 1)
        try Safetensors.save(p, metadata: [:], to: dir + "/m.safetensors")
        let (_, file) = try Safetensors.load(path: dir + "/m.safetensors")
        #expect(throws: PatchRNNError.self) { _ = try ResumeState.info(file, name: "m.safetensors") }
    }

    @Test("a NaN stops training naming the tensor")
    func nanNamesTensor() throws {
        let params = Parameters.initialized(ModelConfig(hidden: 8, layers: 1), seed: 1)
        params.buffer[params.layout.layers[0].weightHHt.offset + 3] = .nan
        let engine = try TrainingEngine(params: params, adamConfig: AdamConfig(), pool: makePool(1), shardSize: 8, maxBatch: 16)
        let set = randomPatchSet(count: 16, seed: 1)
        do {
            _ = try Array(0..<16).withUnsafeBufferPointer { try engine.step(set, $0) }
            Issue.record("expected an error")
        } catch let e as NonFiniteLoss {
            #expect(e.description.contains("lstm.weight_hh_l0 (weights)"), "\(e.description)")
        }
    }
}
