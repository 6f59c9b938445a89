import ArgumentParser
import Foundation
import PatchRNN

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract:
            "Generate the bottom halves of the test images from a checkpoint; write samples.png, truth.png, metrics.json and report.html.")
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "A safetensors checkpoint (PatchRNN's or a PyTorch state_dict saved as safetensors).")
    var checkpoint: String
    @OptionGroup var cell: CellOptions
    @OptionGroup var pool: PoolOptions

    func validate() throws { try checkPath(checkpoint, "--checkpoint") }

    func run() throws {
        try reportingErrors {
            let reporter = ProgressReporter(quiet: pool.quiet)
            // Every input is checked before the output folder is created or claimed.
            let (params, file) = try Safetensors.load(path: checkpoint)
            try Cells.check(requested: cell.cell, against: params.config, file: checkpoint)
            let directory = MNIST.resolveDirectory(dataOptions.data)
            let test = try MNIST.loadTest(directory: directory)
            let classNames = try MNIST.classNames(directory: directory)
            let lock = try OutputLock(claiming: output.out)
            defer { withExtendedLifetime(lock) {} }
            if let w = lock.warning, !pool.quiet { printError(w) }
            let workers = try pool.makePool(reporter: reporter)
            let (report, warning) = ReportContext.forCheckpoint(checkpoint, metadata: file.metadata)
            if let warning { printError(warning) }
            let metrics = try Results.generate(
                params: params, test: test, pool: workers, outDirectory: output.out,
                run: checkpointRunInfo(checkpoint, params, metadata: file.metadata, threads: workers.count),
                classNames: classNames, report: report)
            try printResult(Results.summary(metrics, files: OutputFiles.generation.map(output.path)), terminator: "")
        }
    }
}

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate", abstract: "Test-set metrics of a checkpoint (free-running bottom-half MSE per class, teacher-forced MSE).")
    @OptionGroup var dataOptions: DataOptions
    @Option(help: "A safetensors checkpoint.") var checkpoint: String
    @Flag(help: "Print the metrics as one JSON object on standard output.") var json = false
    @Flag(
        help:
            "Also measure two simple predictors on the same test set: the mean training bottom half, and the bottom half of the training image whose top half is nearest."
    )
    var baselines = false
    @OptionGroup var cell: CellOptions
    @OptionGroup var pool: PoolOptions

    func validate() throws { try checkPath(checkpoint, "--checkpoint") }

    func run() throws {
        try reportingErrors {
            let reporter = ProgressReporter(quiet: pool.quiet || json)
            let (params, _) = try Safetensors.load(path: checkpoint)
            try Cells.check(requested: cell.cell, against: params.config, file: checkpoint)
            let directory = MNIST.resolveDirectory(dataOptions.data)
            let test = try MNIST.loadTest(directory: directory)
            let train = baselines ? try MNIST.load(directory: directory, withTest: false).train : nil
            let workers = try pool.makePool(reporter: reporter)
            let metrics = try Results.generate(
                params: params, test: test, pool: workers, outDirectory: nil, run: nil,
                classNames: try MNIST.classNames(directory: directory))
            let measured = try train.map { try Baselines.measure(train: $0, test: test, pool: workers) }
            if json {
                try printResult(
                    measured.map { try jsonText(MetricsFile(test: metrics, run: RunInfo(), baselines: $0)) } ?? jsonText(metrics),
                    terminator: "")
            } else {
                try printResult(Results.summary(metrics, files: []), terminator: "")
                if let b = measured {
                    try printResult(
                        "Baselines on the same test images (their bottom halves predicted from the \(b.trainingImages) training images):")
                    try printResult("  the mean training bottom half:                       MSE \(fmt(b.meanBottomMSE, 5))")
                    try printResult("  the bottom half of the training image nearest on top: MSE \(fmt(b.nearestTopMSE, 5))")
                }
            }
        }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write report.html for an existing checkpoint (the test set is generated again).",
        discussion:
            "The page shows the checkpoint's settings and test results, the per-class table, the 10x10 grid generated beside true, the best and worst completions of each class and a live panel that runs the model in the browser; the loss curves too when the run's train-log.jsonl lies beside the checkpoint. It is one file that fetches nothing."
    )
    @OptionGroup var dataOptions: DataOptions
    @Option(help: "A safetensors checkpoint.") var checkpoint: String
    @Option(help: ArgumentHelp("Folder for report.html (default: the checkpoint's folder).", valueName: "dir"))
    var out: String?
    @Flag(
        help: "Also measure the two baselines of evaluate --baselines (needs the training images) and show them beside the model's error.")
    var baselines = false
    @OptionGroup var cell: CellOptions
    @OptionGroup var pool: PoolOptions

    func run() throws {
        try reportingErrors {
            // The checkpoint first: the folder, by default, is its own.
            let (params, file) = try Safetensors.load(path: checkpoint)
            try Cells.check(requested: cell.cell, against: params.config, file: checkpoint)
            let out = self.out ?? URL(fileURLWithPath: checkpoint).deletingLastPathComponent().path
            let reporter = ProgressReporter(quiet: pool.quiet)
            let directory = MNIST.resolveDirectory(dataOptions.data)
            let test = try MNIST.loadTest(directory: directory)
            let classNames = try MNIST.classNames(directory: directory)
            let train = baselines ? try MNIST.load(directory: directory, withTest: false).train : nil
            // Every input is checked before the output folder is created or claimed.
            let lock = try OutputLock(claiming: out)
            defer { withExtendedLifetime(lock) {} }
            if let w = lock.warning, !pool.quiet { printError(w) }
            let workers = try pool.makePool(reporter: reporter)
            var (report, warning) = ReportContext.forCheckpoint(checkpoint, metadata: file.metadata)
            if let warning { printError(warning) }
            report.baselines = try train.map { try Baselines.measure(train: $0, test: test, pool: workers) }
            let (metrics, bytes, seconds) = try Results.report(
                params: params, test: test, pool: workers, outDirectory: out,
                run: checkpointRunInfo(checkpoint, params, metadata: file.metadata, threads: workers.count),
                classNames: classNames, report: report)
            try printResult(Results.summary(metrics, files: []), terminator: "")
            try printResult("Wrote:\n  \(out)/\(OutputFiles.report) (\(bytes / 1024) KiB, written in \(fmt(seconds, 3)) s)")
        }
    }
}

/// What `generate` and `report` know of the run behind a checkpoint: its shape (from its
/// tensors), and the other settings and the kept epoch its metadata records.
func checkpointRunInfo(_ checkpoint: String, _ params: Parameters, metadata: [String: String], threads: Int) -> RunInfo {
    var info = RunInfo()
    info.checkpoint = checkpoint
    info.threads = threads
    info.record(params.config)
    return info.filled(fromCheckpoint: metadata, history: [])
}
