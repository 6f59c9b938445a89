// The example of the documentation article "Training from Swift"
// (Sources/PatchRNN/PatchRNN.docc/TrainingFromSwift.md), compiled and run here so that it
// cannot rot: the code between the snippet markers is the article's code block, character
// for character (DocCArticleTests checks that), and uses only what `import PatchRNN` gives a
// user of the library.

// snippet: training-from-swift
import PatchRNN

/// Trains a small two-layer LSTM on the first 500 images of the MNIST files in
/// `dataDirectory`, then draws the bottom half of every test digit from its top half.
/// Writes model.safetensors, train-log.jsonl, loss.svg, samples.png, truth.png,
/// metrics.json and report.html to `outDirectory`, and returns the test errors.
func trainAndGenerate(dataDirectory: String,
                      outDirectory: String) throws -> TestMetrics {
    // The settings of the run; every other setting keeps its default.
    var settings = TrainingOptions()
    settings.model = ModelConfig(cell: LSTMCell.self, hidden: 32, layers: 2)
    settings.batchSize = 16
    settings.maxEpochs = 10
    settings.trainLimit = 500
    settings.seed = 7

    // Two worker threads, unpinned (give a `Topology` to pin them to cores).
    let pool = try WorkerPool.make(threads: 2, topology: nil)

    // Checks the settings, loads the data and builds the model; `run()` trains
    // it and leaves the kept (best) epoch's weights in `job.params`.
    let request = TrainingJob.Request(settings: settings,
                                      dataDirectory: dataDirectory,
                                      outDirectory: outDirectory)
    let job = try TrainingJob(request, pool: pool,
                              reporter: ProgressReporter(quiet: true),
                              observers: [EpochPrinter()])
    let result = try job.run()
    print("kept epoch \(result.bestEpoch) of \(result.history.count)")

    // Generates every test digit's bottom half and measures the errors.
    let metrics = try Results.generate(params: job.params, test: job.data.test,
                                       pool: pool, outDirectory: outDirectory,
                                       run: job.runInfo(result))
    print(Results.summary(metrics, files: []))
    return metrics
}

/// Prints a line after every epoch: its losses, and whether it is the best so far.
final class EpochPrinter: TrainingObserver {
    func epochEnded(_ record: EpochRecord, progress: TrainingProgress,
                    last: Bool) throws {
        var line = "epoch \(record.epoch): training loss \(record.trainLoss)"
        line += ", validation loss \(record.valLoss)"
        if let bottom = record.valBottomMSE {
            line += ", validation bottom-half MSE \(bottom)"
        }
        print(line + (record.best ? " (best so far)" : ""))
    }
}
// end snippet

import Foundation
import Testing

@Suite("Documentation: the Training from Swift example")
struct TrainingFromSwiftExample {
    /// The example, run as a user would: on the real MNIST files where this machine has them,
    /// else on a few hundred synthetic digits. Its model must draw better bottom halves than
    /// the same model untrained, write its files, and its checkpoint must give back the same
    /// test errors.
    @Test("the article's example trains a model that beats an untrained one, and writes its files")
    func example() throws {
        let data = try realMNISTDirectory() ?? writeSyntheticMNIST(train: 600, test: 200)
        let out = try temporaryDirectory() + "/out"

        let metrics = try trainAndGenerate(dataDirectory: data, outDirectory: out)

        for name in OutputFiles.training + OutputFiles.generation {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name) was not written")
        }
        // The checkpoint, read back as the article's last section says, and the same model
        // untrained (the job's initial weights: the settings' model and seed), on the same test set.
        let (trained, file) = try Safetensors.load(path: out + "/" + OutputFiles.checkpoint)
        let settings = try #require(TrainingOptions(metadata: file.metadata))
        let test = try MNIST.loadTest(directory: data)
        let pool = try WorkerPool.make(threads: 2, topology: nil)
        let again = try Results.generate(params: trained, test: test, pool: pool, outDirectory: nil, run: nil)
        let untrained = try Results.generate(params: Parameters.initialized(settings.model, seed: settings.seed), test: test,
                                             pool: pool, outDirectory: nil, run: nil)
        #expect(metrics.perClassCount.reduce(0, +) == test.count)
        #expect(metrics.testFreeRunningBottomMSE.isFinite)
        #expect(metrics.testFreeRunningBottomMSE < 0.75 * untrained.testFreeRunningBottomMSE,
                "trained \(metrics.testFreeRunningBottomMSE), untrained \(untrained.testFreeRunningBottomMSE)")
        #expect(again.testFreeRunningBottomMSE == metrics.testFreeRunningBottomMSE, "the checkpoint holds the kept weights")
    }
}
