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
            let lock = try job.claimOutput(group: group)
            defer { withExtendedLifetime(lock) {} }
            let o = try job.train(group: group, maxSteps: maxSteps).outcome
            guard group.isRoot else { return }
            print("Trained \(o.result.history.count) epochs in \(fmt(o.result.trainSeconds, 1)) s; kept epoch \(o.result.bestEpoch) (\(keptSummary(o.result)))")
            print("Wrote:\n" + OutputFiles.training.map { "  " + job.output.path($0) }.joined(separator: "\n"))
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
            let lock = try job.claimOutput(group: group)
            defer { withExtendedLifetime(lock) {} }
            let (o, workers) = try job.train(group: group)
            guard group.isRoot else { return }  // generation runs on rank 0; the others are done
            let info = RunInfo(options: o.options, result: o.result, threads: workers.count, processes: group.size)
            let metrics = try Results.generate(params: o.params, test: o.data.test, pool: workers, outDirectory: job.output.out, run: info,
                                               classNames: o.data.classNames, report: ReportContext(history: o.result.history))
            print("Trained \(o.result.history.count) epochs in \(fmt(o.result.trainSeconds, 1)) s on \(workers.count) thread(s); kept epoch \(o.result.bestEpoch) (\(keptSummary(o.result)))")
            print(Results.summary(metrics, files: (OutputFiles.training + OutputFiles.generation).map(job.output.path)), terminator: "")
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

    /// Checks the options, then takes the output folder (rank 0): a bad option leaves nothing behind.
    func claimOutput(group: ProcessGroup) throws -> OutputLock? {
        try training.options().validate()
        try TensorBoardSettings.checkImagesEvery(tensorBoard.tensorboardImagesEvery)
        guard group.isRoot else { return nil }
        try tensorBoard.settings?.validate()
        let lock = try OutputLock(claiming: output.out)
        if let w = lock.warning, !pool.quiet { printError(w) }
        return lock
    }

    func train(group: ProcessGroup, maxSteps: Int? = nil) throws -> (outcome: TrainingRun.Outcome, pool: WorkerPool) {
        let reporter = ProgressReporter(quiet: pool.quiet || !group.isRoot)
        let workers = try pool.makePool(reporter: reporter, group: group)
        let outcome = try TrainingRun.train(dataDirectory: data.data, outDirectory: output.out, options: try training.options(),
                                            pool: workers, reporter: reporter, resume: control.resume,
                                            requestedCell: training.cellOptions.cell, maxSteps: maxSteps,
                                            armInterrupts: Interrupts.install, disarmInterrupts: { Interrupts.uninstall(signalHandled: $0) }, group: group, exchange: distributed.mpiExchange,
                                            tensorBoard: tensorBoard.settings)
        return (outcome, workers)
    }
}

/// "val_bottom 0.03257, val_loss 0.02907" (or just the validation loss when it was the monitor).
func keptSummary(_ r: TrainingResult) -> String {
    r.monitor == .valLoss ? "val_loss \(fmt(r.bestValLoss, 5))"
        : "\(r.monitor.rawValue) \(fmt(r.bestMonitored, 5)), val_loss \(fmt(r.bestValLoss, 5))"
}
