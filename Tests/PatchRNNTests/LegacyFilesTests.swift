import Foundation
import Testing

@testable import PatchRNN

/// Files written before the settings schema still load. The fixture legacy-resume.safetensors
/// was written by `patchrnn train --hidden 4 --layers 1 --train-limit 200 --epochs 3
/// --max-steps 5 --batch-size 16 --seed 7` of the version before it (camel-case options JSON,
/// the model nested, `sampling_ramp_epochs` in the metadata).
@Suite("Files from before the settings schema")
struct LegacyFilesTests {
    @Test("a resume state written before the schema resumes with its settings, and continues in today's format")
    func legacyResumeState() throws {
        let path = fixtureURL("legacy-resume.safetensors").path
        let point = try ResumePoint(path: path)
        var expected = TrainingOptions()
        expected.model = ModelConfig(hidden: 4, layers: 1)
        expected.batchSize = 16
        expected.shardSize = 4
        expected.maxEpochs = 3
        expected.seed = 7
        expected.trainLimit = 200
        #expect(point.state.options == expected)
        #expect(point.state.progress.epoch == 1 && point.state.progress.stepInEpoch == 5 && point.state.adamStep == 5)

        // A trainer takes it up, and the state it writes reads back the same, now in the schema's keys.
        let data = randomPatchSet(count: 200, seed: 3)
        let pool = makePool(1)
        let engine = try TrainingEngine(
            params: point.params, adamConfig: AdamConfig(learningRate: expected.learningRate),
            pool: pool, shardSize: expected.shape.shardSize, maxBatch: expected.batchSize)
        var configuration = Trainer.Configuration(options: point.state.options)
        configuration.generator = try Generator(params: point.params, pool: pool)
        let trainer = try Trainer(
            configuration, engine: engine, data: data,
            split: Split(count: 200, validationFraction: expected.validationFraction, seed: expected.seed),
            reporter: ProgressReporter(quiet: true), resume: point.state)
        #expect(trainer.progress.globalStep == 5)
        let out = try temporaryDirectory() + "/resume.safetensors"
        try ResumeState.save(
            params: point.params, adam: engine.adam, best: point.params, options: point.state.options,
            progress: point.state.progress, to: out)
        let again = try ResumePoint(path: out)
        #expect(again.state.options == expected && again.state.progress.stepInEpoch == 5)
        let (_, file) = try Safetensors.load(path: out)
        #expect(file.metadata["sampling_ramp"] == "10" && file.metadata["train_limit"] == "200")
        #expect(file.metadata["training_options"]?.contains("\"batch_size\":16") == true)
    }

    @Test(
        "a checkpoint whose metadata predates the schema: the settings it records are read (old keys too), the others left unknown, not guessed"
    )
    func legacyCheckpointMetadata() throws {
        let (_, file) = try Safetensors.load(path: fixtureURL("legacy-resume.safetensors").path)
        #expect(file.metadata["sampling_ramp_epochs"] == "10" && file.metadata["patience"] == nil)
        #expect(TrainingOptions(metadata: file.metadata) == nil, "not every setting is recorded")
        let filled = RunInfo().filled(fromCheckpoint: file.metadata, history: [])
        #expect(filled.settings["seed"] == .integer(7) && filled.settings["batch_size"] == .integer(16))
        #expect(filled.settings["sampling_ramp"] == .integer(10) && filled.settings["learning_rate"] == .real(0.002))
        #expect(filled.settings["epochs"] == nil && filled.settings["patience"] == nil && filled.settings["train_limit"] == nil)
        #expect(filled.monitor == .valBottom)
        let json = try jsonText(filled)
        #expect(json.contains("\"sampling_ramp\" : 10") && !json.contains("sampling_ramp_epochs") && !json.contains("\"patience\""))
    }

    @Test("a resume state without a setting that every file records is refused (a setting added later gives its whenMissing value)")
    func settingAddedLater() throws {
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainingOptions())) as? [String: Any])
        object["min_delta"] = nil
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: object))
        }
        #expect(TrainingOptions.fields.allSatisfy { $0.whenMissing == nil }, "today every file records every setting")
    }
}
