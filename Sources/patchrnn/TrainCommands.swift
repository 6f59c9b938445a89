import ArgumentParser
import PatchRNN

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a model; write model.safetensors, train-log.jsonl and loss.svg to --out.")
    @OptionGroup var job: TrainingJobOptions
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Stop after this many Adam steps in all, saving resume.safetensors as an interruption would (exit status 0).", valueName: "n"))
    var maxSteps: Int?

    func run() throws {
        let group = try startProcessGroup()
        try reportingErrors(group: group) {
            let start = try job.start(group: group, maxSteps: maxSteps)
            defer { withExtendedLifetime(start.lock) {} }
            let (_, result) = try job.train(group: group, from: start)
            guard group.isRoot else { return }
            try printResult(
                "Trained \(result.history.count) epochs in \(fmt(result.trainSeconds, 1)) s; kept epoch \(result.bestEpoch) (\(keptSummary(result)))"
            )
            try printResult("Wrote:\n" + OutputFiles.training.map { "  " + job.output.path($0) }.joined(separator: "\n"))
        }
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train, then generate: the whole job (the default command).",
        discussion:
            "Writes model.safetensors, train-log.jsonl, loss.svg, samples.png (true top halves, generated bottom halves), truth.png (the same images as they are), metrics.json and report.html (all of it on one page, with a live panel that runs the model in the browser) to --out."
    )
    @OptionGroup var job: TrainingJobOptions

    func run() throws {
        let group = try startProcessGroup()
        try reportingErrors(group: group) {
            let start = try job.start(group: group)
            defer { withExtendedLifetime(start.lock) {} }
            let (trained, result) = try job.train(group: group, from: start)
            guard group.isRoot else { return }  // generation runs on rank 0; the others are done
            let metrics = try Results.generate(
                params: trained.params, test: trained.data.test, pool: trained.pool, outDirectory: job.output.out,
                run: trained.runInfo(result), classNames: trained.data.classNames,
                report: ReportContext(history: result.history))
            try printResult(
                "Trained \(result.history.count) epochs in \(fmt(result.trainSeconds, 1)) s on \(trained.pool.count) thread(s); kept epoch \(result.bestEpoch) (\(keptSummary(result)))"
            )
            try printResult(
                Results.summary(metrics, files: (OutputFiles.training + OutputFiles.generation).map(job.output.path)), terminator: "")
        }
    }
}

/// The options of `train` and `run`, and the training part they share.
struct TrainingJobOptions: ParsableArguments {
    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var training: TrainOptions
    @OptionGroup var control: RunControlOptions
    @OptionGroup var pool: PoolOptions
    @OptionGroup var distributed: DistributedOptions
    @OptionGroup var tensorBoard: TensorBoardOptions

    /// What a run starts from, checked in the order a user would fix things: the options, the
    /// resume file (loaded, checked, and the flags checked against it), the worker pool
    /// (--threads, --cores), the data folder's files (their headers); only then does rank 0
    /// take the output folder, so none of these leaves a folder behind. Then the TensorBoard
    /// folder, and the split the data allows (and, resuming, the position in it), still before
    /// any image is decoded.
    struct Start {
        let lock: OutputLock?
        let request: TrainingJob.Request
        let reporter: ProgressReporter
        let pool: WorkerPool
    }

    func start(group: ProcessGroup, maxSteps: Int? = nil) throws -> Start {
        var request = TrainingJob.Request(settings: try training.options(), dataDirectory: data.data, outDirectory: output.out)
        request.tensorBoard = try tensorBoard.settings()
        request.exchange = distributed.mpiExchange
        request.maxSteps = maxSteps
        request.resumeEveryMinutes = control.resumeEvery
        if let maxSteps { try TrainingOptions.check(.maxSteps, maxSteps, 1...Int.max) }
        if let minutes = control.resumeEvery { try TrainingOptions.checkResumeEvery(minutes: minutes) }
        let resume = try control.resume.map { try ResumePoint(path: $0, requestedCell: training.cellOptions.cell) }
        if let resume { try training.checkConsistent(with: resume.state.options, file: resume.path) }
        let reporter = ProgressReporter(quiet: pool.quiet || !group.isRoot)
        let workers = try pool.makePool(reporter: reporter, group: group)
        let fileCount = try MNIST.check(directory: MNIST.resolveDirectory(data.data), withTest: group.isRoot)
        var lock: OutputLock?
        if group.isRoot {
            lock = try OutputLock(claiming: output.out)
            if let w = lock?.warning, !pool.quiet { printError(w) }
            try request.tensorBoard?.prepareDirectory()
        }
        let split = try TrainingJob.split(resume?.state.options ?? request.settings, fileCount: fileCount)
        try resume?.state.checkPosition(trainCount: split.train.count, file: resume?.path)
        request.resume = resume
        return Start(lock: lock, request: request, reporter: reporter, pool: workers)
    }

    /// The job built from `start` and trained (a signal or the step limit throws
    /// `TrainingInterrupted` after saving the resume state).
    func train(group: ProcessGroup, from start: Start) throws -> (job: TrainingJob, result: TrainingResult) {
        let job = try TrainingJob(start.request, pool: start.pool, group: group, reporter: start.reporter, observers: [InterruptHandlers()])
        return (job, try job.run())
    }
}

/// The tool's signal handlers, armed only while training runs: before (loading data) and after
/// (the final files, generation) a signal ends the process at once. A signal that stopped
/// training has had its effect; one that came during the last validation acts when disarmed.
/// (When training ends in an error they stay: a pending signal must not swallow the error.)
final class InterruptHandlers: TrainingObserver {
    func trainingStarts() { Interrupts.install() }
    func trainingEnded(interrupted: Bool) { Interrupts.uninstall(signalHandled: interrupted) }
}

/// "val_bottom 0.03257, val_loss 0.02907" (or just the validation loss when it was the monitor).
func keptSummary(_ r: TrainingResult) -> String {
    r.monitor == .valLoss
        ? "val_loss \(fmt(r.bestValLoss, 5))"
        : "\(r.monitor.rawValue) \(fmt(r.bestMonitored, 5)), val_loss \(fmt(r.bestValLoss, 5))"
}
