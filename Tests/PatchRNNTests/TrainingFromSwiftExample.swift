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
func trainAndGenerate(
    dataDirectory: String,
    outDirectory: String
) throws -> TestMetrics {
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
    let request = TrainingJob.Request(
        settings: settings,
        dataDirectory: dataDirectory,
        outDirectory: outDirectory)
    let job = try TrainingJob(
        request, pool: pool,
        reporter: ProgressReporter(quiet: true),
        observers: [EpochPrinter()])
    let result = try job.run()
    print("kept epoch \(result.bestEpoch) of \(result.history.count)")

    // Generates every test digit's bottom half and measures the errors.
    let metrics = try Results.generate(
        params: job.params, test: job.data.test,
        pool: pool, outDirectory: outDirectory,
        run: job.runInfo(result))
    print(Results.summary(metrics, files: []))
    return metrics
}

/// Prints a line after every epoch: its losses, and whether it is the best so far.
final class EpochPrinter: TrainingObserver {
    func epochEnded(
        _ record: EpochRecord, progress: TrainingProgress,
        last: Bool
    ) throws {
        var line = "epoch \(record.epoch): training loss \(record.trainLoss)"
        line += ", validation loss \(record.valLoss)"
        if let bottom = record.valBottomMSE {
            line += ", validation bottom-half MSE \(bottom)"
        }
        print(line + (record.best ? " (best so far)" : ""))
    }
}
// end snippet
