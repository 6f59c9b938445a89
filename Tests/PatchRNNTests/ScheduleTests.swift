import Foundation
import Testing

@testable import PatchRNN

@Suite("Between epochs: the learning-rate schedule and early stopping")
struct ScheduleTests {
    @Test("the plateau rule halves the rate every lr-patience epochs without improvement, never otherwise")
    func halvesOnPlateau() {
        let schedule = PlateauSchedule(patience: 2)
        #expect(schedule.next(1e-3, sinceBest: 0) == 1e-3)
        #expect(schedule.next(1e-3, sinceBest: 1) == 1e-3)
        #expect(schedule.next(1e-3, sinceBest: 2) == 5e-4)
        #expect(schedule.next(5e-4, sinceBest: 3) == 5e-4)
        #expect(schedule.next(5e-4, sinceBest: 4) == 2.5e-4)
        #expect(PlateauSchedule(patience: 0).next(1e-3, sinceBest: 4) == 1e-3, "0 turns it off")
    }

    @Test(
        "the plateau rule never raises the rate, whatever it starts from",
        arguments: [Float(1e-3), 3e-6, 1.5e-6, 1e-6, 4e-7, 1e-9])
    func neverRaises(start: Float) {
        let schedule = PlateauSchedule(patience: 1)
        var rate = start
        for sinceBest in 1...40 {
            let next = schedule.next(rate, sinceBest: sinceBest)
            #expect(next <= rate, "from \(rate) it went to \(next)")
            #expect(next >= min(rate, schedule.floor), "below the floor")
            rate = next
        }
    }

    @Test("early stopping counts epochs without improvement and keeps the best epoch")
    func earlyStoppingCounts() {
        let stopping = EarlyStopping(patience: 2)
        var p = TrainingProgress()
        #expect(stopping.observe(0.5, epoch: 1, &p))
        #expect(!stopping.observe(0.6, epoch: 2, &p))
        #expect(!stopping.shouldStop(p))
        #expect(stopping.observe(0.4, epoch: 3, &p))
        #expect(!stopping.observe(0.4, epoch: 4, &p), "equal is no improvement")
        #expect(!stopping.observe(0.45, epoch: 5, &p))
        #expect(stopping.shouldStop(p))
        #expect(p.bestEpoch == 3 && p.bestValLoss == 0.4 && p.sinceBest == 2)
    }

    @Test("scheduled sampling: the probability ramps linearly, and the draws hit it and depend on (seed, epoch, sequence, step) alone")
    func samplingSchedule() {
        let s = ScheduledSampling(maxProbability: 0.4, rampEpochs: 4)
        #expect(
            s.probability(epoch: 1) == 0 && s.probability(epoch: 3) == 0.2 && s.probability(epoch: 5) == 0.4
                && s.probability(epoch: 50) == 0.4)
        #expect(ScheduledSampling().probability(epoch: 30) == 0 && !ScheduledSampling().isOn)
        let ids = Array(0..<20_000)
        ids.withUnsafeBufferPointer { p in
            let draw = FeedbackDraw(probability: 0.3, seed: 7, epoch: 2, sequenceIDs: p.baseAddress!)
            var hits = 0
            for b in ids { for t in 8..<15 where draw.feedsBack(row: b, step: t) { hits += 1 } }
            let rate = Double(hits) / Double(ids.count * 7)
            #expect(abs(rate - 0.3) < 0.01, "rate \(rate)")
            // The same sequence at another row of another minibatch gets the same draws.
            let shifted = draw.rows(from: 100)
            #expect((8..<15).allSatisfy { shifted.feedsBack(row: 5, step: $0) == draw.feedsBack(row: 105, step: $0) })
            let otherEpoch = FeedbackDraw(probability: 0.3, seed: 7, epoch: 3, sequenceIDs: p.baseAddress!)
            let otherSeed = FeedbackDraw(probability: 0.3, seed: 8, epoch: 2, sequenceIDs: p.baseAddress!)
            let differs = { (o: FeedbackDraw) in
                (0..<500).contains { b in (8..<15).contains { o.feedsBack(row: b, step: $0) != draw.feedsBack(row: b, step: $0) } }
            }
            #expect(differs(otherEpoch) && differs(otherSeed))
        }
    }

    @Test("the default shard size comes from the batch alone: batch / 16 within 4...16, never above the batch")
    func defaultShardSize() {
        #expect(
            [1, 3, 32, 64, 100, 128, 256, 1024, 4096].map { StepShape(batchSize: $0, shardSize: nil).shardSize } == [
                1, 3, 4, 4, 6, 8, 16, 16, 16,
            ])
        #expect(StepShape(batchSize: 64, shardSize: nil).slots == 16 && StepShape(batchSize: 1024, shardSize: nil).slots == 64)
        #expect(StepShape(batchSize: 64, shardSize: 32).shardSize == 32, "an explicit shard size is kept")
    }

    @Test("--plain is the task's setting; the defaults are generation-aware; an older resume state reads as it was")
    func presetsAndOldOptions() throws {
        let plain = TrainingOptions.plain, defaults = TrainingOptions()
        #expect(plain.monitor == .valLoss && !plain.sampling.isOn && plain.learningRate == 1e-3)
        #expect(defaults.monitor == .valBottom && defaults.sampling.maxProbability == 0.25 && defaults.learningRate == 2e-3)
        // training_options as a resume state wrote them before the settings schema (camel-case
        // keys, the model nested) and before monitor, min-delta and sampling existed.
        let before =
            #"{"batchSize":64,"learningRate":0.001,"lrPatience":2,"maxEpochs":100,"model":{"cell":"lstm","hidden":64,"inputSize":49,"layers":2,"outputSize":49,"steps":15},"patience":5,"seed":3,"shardSize":16,"validationFraction":0.1}"#
        let decoded = try JSONDecoder().decode(TrainingOptions.self, from: Data(before.utf8))
        #expect(decoded.monitor == .valLoss && !decoded.sampling.isOn && decoded.minDelta == 0)
        #expect(decoded.shape == StepShape(batchSize: 64, shardSize: 16) && decoded.seed == 3 && decoded.learningRate == 1e-3)
        // And today's options survive their own round trip, as one flat object under the schema's keys.
        var o = TrainingOptions()
        o.minDelta = 1e-4
        o.sampling.rampEpochs = 7
        o.trainLimit = 500
        o.seed = UInt64.max
        let json = try JSONEncoder().encode(o)
        #expect(try JSONDecoder().decode(TrainingOptions.self, from: json) == o)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(Set(object.keys) == Set(TrainingOptions.fields.map(\.setting.key)))
        #expect(
            object["sampling_ramp"] as? Int == 7 && object["train_limit"] as? Int == 500 && object["seed"] as? String == "\(UInt64.max)")
    }

    @Test("every setting is checked by its field: a value out of range names the setting, a value of the wrong kind is refused")
    func schemaChecks() throws {
        let bad: [(String, SettingValue)] = [
            ("hidden", .integer(0)), ("batch_size", .integer(-1)), ("learning_rate", .real(0)),
            ("validation_fraction", .real(1)), ("train_limit", .integer(1)), ("min_delta", .real(-0.1)),
            ("scheduled_sampling", .real(1.5)), ("sampling_ramp", .integer(0)), ("lr_patience", .integer(-1)),
        ]
        for (key, value) in bad {
            var o = TrainingOptions()
            let field = try #require(TrainingOptions.field(key))
            try field.write(&o, value)
            #expect(throws: PatchRNNError.self, "\(key) \(value)") { try o.validate() }
            do { try o.validate() } catch let e as PatchRNNError { #expect(e.setting?.key == key) }
        }
        var o = TrainingOptions()
        #expect(throws: PatchRNNError.self) { try TrainingOptions.field("hidden")!.write(&o, .word("wide")) }
        #expect(throws: PatchRNNError.self) { try TrainingOptions.field("cell")!.write(&o, .word("transformer")) }
        #expect(throws: PatchRNNError.self) { try TrainingOptions.field("monitor")!.write(&o, .word("val_top")) }
        #expect(throws: PatchRNNError.self) { try TrainingOptions.field("seed")!.write(&o, .integer(-1)) }
        try TrainingOptions().validate()
    }

    @Test("the checkpoint metadata records every setting, and a checkpoint's settings read back from it")
    func metadataRoundTrip() throws {
        var o = TrainingOptions.plain
        o.model = ModelConfig(cell: GRUCell.self, hidden: 12, layers: 3)
        o.shardSize = 8
        o.learningRate = 3e-4
        let m = o.summary(epoch: 4, bestValLoss: 0.02)
        #expect(m["learning_rate"] == "0.0003" && m["cell"] == "gru" && m["shard_size"] == "8" && m["train_limit"] == "none")
        #expect(TrainingOptions(metadata: m) == o)
        var big = o
        big.seed = .max  // recorded as a word: above Int.max
        #expect(TrainingOptions(metadata: big.summary()) == big)
        var partial = m
        partial["sampling_ramp"] = nil  // a checkpoint whose metadata predates a setting: its settings are unknown
        #expect(TrainingOptions(metadata: partial) == nil)
    }

    @Test("early stopping on val_bottom with a min-delta: only falls larger than the delta count")
    func minDelta() {
        var p = TrainingProgress()
        let stopping = EarlyStopping(patience: 2, minDelta: 0.001)
        #expect(stopping.observe(0.040, epoch: 1, &p))
        #expect(!stopping.observe(0.0395, epoch: 2, &p), "a fall of 0.0005 is within the delta")
        #expect(stopping.observe(0.0385, epoch: 3, &p))
        #expect(p.bestEpoch == 3 && p.sinceBest == 0)
    }

    @Test("early stopping ends training and restores the best epoch's weights, which the checkpoint holds")
    func earlyStoppingRestoresBest() throws {
        let data = randomPatchSet(count: 160, seed: 4)
        var o = TrainingOptions()
        o.model = ModelConfig(hidden: 24, layers: 1)
        o.batchSize = 16
        o.shardSize = 8
        o.maxEpochs = 60
        o.patience = 2
        o.lrPatience = 0
        o.learningRate = 0.01  // large enough on random data that validation soon stops improving
        o.monitor = .valLoss  // no generator here: the teacher-forced validation loss decides
        let params = Parameters.initialized(o.model, seed: 2)
        let engine = try TrainingEngine(
            params: params, adamConfig: AdamConfig(learningRate: o.learningRate), pool: makePool(2), shape: o.shape)
        let dir = try temporaryDirectory()
        var configuration = Trainer.Configuration(options: o)
        configuration.checkpointPath = dir + "/best.safetensors"
        var lastWeights: [Float] = []
        let recorder = Hooks(step: { _ in
            lastWeights = params.buffer.array
            return true
        })
        let trainer = try Trainer(
            configuration, engine: engine, data: data, split: Split(count: 160, validationFraction: 0.25, seed: 1),
            reporter: ProgressReporter(quiet: true), observers: [recorder])
        let result = try trainer.train()
        #expect(result.stoppedEarly)
        #expect(result.history.count == result.bestEpoch + o.patience, "stopped \(o.patience) epochs after the best")
        #expect(result.history.last?.best == false)
        let (saved, file) = try Safetensors.load(path: dir + "/best.safetensors")
        #expect(file.metadata["epoch"] == "\(result.bestEpoch)")
        #expect(params.buffer.array == saved.buffer.array, "the weights after training are the best epoch's")
        #expect(params.buffer.array != lastWeights, "the last epoch's weights were replaced")
    }
}
