import ArgumentParser
import Foundation
import Testing

@testable import PatchRNN
@testable import patchrnn

/// The command line and the settings schema are one: every training flag is a field of
/// `TrainingOptions.fields` (by name), every field has its flag, and a flag reaches its field.
@Suite("Training flags and the settings schema")
struct SettingFlagsTests {
    @Test("every training flag is a field of the schema, and every field has a flag")
    func flagsAreFields() throws {
        let parsed = try TrainOptions.parse([])
        let flagKeys = TrainOptions.flagValues(parsed).map { snakeCase($0.name) }
        #expect(Set(flagKeys) == Set(TrainingOptions.fields.map(\.setting.key)))
        #expect(flagKeys.count == TrainingOptions.fields.count, "a flag is declared twice")
        for key in flagKeys { #expect(TrainOptions.helpMessage().contains(TrainingOptions.field(key)!.setting.flag)) }
    }

    @Test("a given flag reaches its setting; the defaults (or --plain's) stay for the rest")
    func flagsReachSettings() throws {
        let o = try TrainOptions.parse([
            "--batch-size", "32", "--learning-rate", "3e-4", "--cell", "gru", "--sampling-ramp", "4",
            "--train-limit", "900", "--monitor", "val_loss", "--seed", "18446744073709551615",
        ]).options()
        var expected = TrainingOptions()
        expected.batchSize = 32
        expected.learningRate = 3e-4
        expected.model = ModelConfig(cell: GRUCell.self)
        expected.sampling.rampEpochs = 4
        expected.trainLimit = 900
        expected.monitor = .valLoss
        expected.seed = .max
        #expect(o == expected)
        var plain = TrainingOptions.plain
        plain.patience = 9
        #expect(try TrainOptions.parse(["--plain", "--patience", "9"]).options() == plain)
    }

    @Test("a flag out of range is refused by the schema's check, named by its flag")
    func refused() throws {
        let e = #expect(throws: PatchRNNError.self) { try TrainOptions.parse(["--validation-fraction", "1.5"]).options() }
        #expect(e.map(message) == "--validation-fraction must be between 0 and 1 (got 1.5)")
    }

    @Test("with --resume, a flag that contradicts the resumed settings is refused and one that repeats them accepted")
    func consistency() throws {
        var resumed = TrainingOptions()
        resumed.batchSize = 32
        try TrainOptions.parse(["--batch-size", "32", "--shard-size", "\(resumed.shape.shardSize)"]).checkConsistent(
            with: resumed, file: "r")
        let e = #expect(throws: PatchRNNError.self) {
            try TrainOptions.parse(["--hidden", "32"]).checkConsistent(with: resumed, file: "r")
        }
        #expect(e?.description == "--hidden 32 contradicts r, whose run has 64 (a resumed run keeps its settings: leave the flag out)")
        #expect(throws: PatchRNNError.self) { try TrainOptions.parse(["--plain"]).checkConsistent(with: resumed, file: "r") }
        try TrainOptions.parse(["--plain"]).checkConsistent(with: .plain, file: "r")
    }
}
