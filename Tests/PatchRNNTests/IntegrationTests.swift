import Foundation
import Testing

@testable import PatchRNN

@Suite(
    "Integration on the real MNIST files", .serialized,
    .enabled(
        if: realMNISTDirectory() != nil || runningUnderCI,
        "real MNIST not found (data/mnist, ../shared/data/mnist or $PATCHRNN_DATA); run scripts/fetch-mnist.sh"))
struct IntegrationTests {
    @Test("six epochs on 5,000 real digits bring the validation loss well below the mean-image baseline")
    func learnsRealDigits() throws {
        // Under CI the suite runs even without the files, so that their absence fails here.
        let dir = try #require(realMNISTDirectory(), "CI is set but the real MNIST files are missing (scripts/fetch-mnist.sh)")
        let mnist = try MNIST.load(directory: dir)
        #expect(mnist.train.count == 60_000 && mnist.test.count == 10_000)
        let data = mnist.train.subset(Array(0..<5000))
        let split = Split(count: 5000, validationFraction: 0.1, seed: 1)
        var options = TrainingOptions()
        options.maxEpochs = 6
        options.batchSize = 32
        options.monitor = .valLoss  // no generator here (scheduled sampling stays on, as by default)
        let params = Parameters.initialized(options.model, seed: 1)
        let engine = try TrainingEngine(
            params: params, adamConfig: AdamConfig(learningRate: options.learningRate), pool: makePool(2),
            shape: options.shape)
        let trainer = try Trainer(
            Trainer.Configuration(options: options), engine: engine, data: data, split: split, reporter: ProgressReporter(quiet: true))
        let result = try trainer.train()

        // Baseline: predict every next patch with the mean training image's patch.
        let len = PatchSet.sequenceLength
        var mean = [Double](repeating: 0, count: len)
        for i in split.train { for j in 0..<len { mean[j] += Double(data.sequence(i)[j]) / Double(split.train.count) } }
        var baseline = 0.0
        for i in split.validation {
            for j in Patches.patchSize..<len {
                let d = Double(data.sequence(i)[j]) - mean[j]
                baseline += d * d
            }
        }
        baseline /= Double(split.validation.count * (len - Patches.patchSize))
        print("validation loss \(result.bestValLoss) vs mean-image baseline \(baseline)")
        #expect(result.bestValLoss < 0.75 * baseline)
        #expect(result.history.count == 6)
        #expect(result.history.last!.trainLoss < result.history.first!.trainLoss)
    }
}
