import ArgumentParser
import PatchRNN

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a model; write model.safetensors, train-log.jsonl and loss.svg to --out.")
    @OptionGroup var job: TrainingJobOptions
    @Option(parsing: .unconditional, help: ArgumentHelp("Stop after this many Adam steps in all, saving resume.safetensors as an interruption would (exit status 0).", valueName: "n"))
    var maxSteps: Int?

    func run() throws {
        let group = try startProcessGroup()
        try reportingErrors(group: group) {
            if let maxSteps { try TrainingOptions.check(.maxSteps, maxSteps, 1...Int.max) }
            let start = try job.start(group: group)
            defer { withExtendedLifetime(start.lock) {} }
            let o = try job.train(group: group, from: start, maxSteps: maxSteps).outcome
            guard group.isRoot else { return }
            try printResult("Trained \(o.result.history.count) epochs in \(fmt(o.result.trainSeconds, 1)) s; kept epoch \(o.result.bestEpoch) (\(keptSummary(o.result)))")
            try printResult("Wrote:\n" + OutputFiles.training.map { "  " + job.output.path($0) }.joined(separator: "\n"))
        }
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train, then generate: the whole job (the default command).",
        discussion: "Writes model.safetensors, train-log.jsonl, loss.svg, samples.png (true top halves, generated bottom halves), truth.png (the same images as they are), metrics.json and report.html (all of it on one page, with a live panel that runs the model in the browser) to --out.")
    @OptionGroup var job: TrainingJobOptions

    func run() throws {
        let group = try startProcessGroup()
        try reportingErrors(group: group) {
            let start = try job.start(group: group)
            defer { withExtendedLifetime(start.lock) {} }
            let (o, workers) = try job.train(group: group, from: start)
            guard group.isRoot else { return }  // generation runs on rank 0; the others are done
            let info = RunInfo(options: o.options, result: o.result, threads: workers.count, processes: group.size)
            let metrics = try Results.generate(params: o.params, test: o.data.test, pool: workers, outDirectory: job.output.out, run: info,
                                               classNames: o.data.classNames, report: ReportContext(history: o.result.history))
            try printResult("Trained \(o.result.history.count) epochs in \(fmt(o.result.trainSeconds, 1)) s on \(workers.count) thread(s); kept epoch \(o.result.bestEpoch) (\(keptSummary(o.result)))")
            try printResult(Results.summary(metrics, files: (OutputFiles.training + OutputFiles.generation).map(job.output.path)), terminator: "")
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
        let resume: ResumePoint?
        let reporter: ProgressReporter
        let pool: WorkerPool
    }

    func start(group: ProcessGroup) throws -> Start {
        try training.options().validate()
        try TensorBoardSettings.checkImagesEvery(tensorBoard.tensorboardImagesEvery)
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
            try tensorBoard.settings?.validate()
        }
        let split = try TrainingRun.split(resume?.state.options ?? training.options(), fileCount: fileCount)
        try resume?.state.checkPosition(trainCount: split.train.count, file: resume?.path)
        return Start(lock: lock, resume: resume, reporter: reporter, pool: workers)
    }

    func train(group: ProcessGroup, from start: Start, maxSteps: Int? = nil) throws -> (outcome: TrainingRun.Outcome, pool: WorkerPool) {
        let outcome = try TrainingRun.train(dataDirectory: data.data, outDirectory: output.out, options: try training.options(),
                                            pool: start.pool, reporter: start.reporter, resume: start.resume, maxSteps: maxSteps,
                                            resumeEveryMinutes: control.resumeEvery,
                                            armInterrupts: Interrupts.install, disarmInterrupts: { Interrupts.uninstall(signalHandled: $0) }, group: group, exchange: distributed.mpiExchange,
                                            tensorBoard: tensorBoard.settings)
        return (outcome, start.pool)
    }
}

/// "val_bottom 0.03257, val_loss 0.02907" (or just the validation loss when it was the monitor).
func keptSummary(_ r: TrainingResult) -> String {
    r.monitor == .valLoss ? "val_loss \(fmt(r.bestValLoss, 5))"
        : "\(r.monitor.rawValue) \(fmt(r.bestMonitored, 5)), val_loss \(fmt(r.bestValLoss, 5))"
}
