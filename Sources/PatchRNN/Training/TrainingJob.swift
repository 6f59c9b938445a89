import Foundation

/// One training job, assembled in one place for `run`, `train`, `trace`, the tests and library
/// users: the data (this rank's part of it), the weights (new, or a resume state's), the
/// engine, the trainer and its observers (the log and loss plot, TensorBoard), then `run()`
/// trains and writes the final checkpoint and plot.
///
/// Under MPI (`group.size > 1`) every rank loads only its part of the training set, rank 0
/// also the validation and test sets, and only rank 0 writes files (every rank reads the
/// resume state, so it must be on a file system all ranks see).
public final class TrainingJob {
    /// What a job is asked to do.
    public struct Request {
        /// The settings of a new run (a resumed run keeps its own: `resume`).
        public var settings: TrainingOptions
        /// The MNIST folder (nil: `MNIST.resolveDirectory`'s default).
        public var dataDirectory: String?
        /// Where model.safetensors, resume.safetensors, train-log.jsonl and loss.svg go (nil:
        /// nothing is written).
        public var outDirectory: String?
        /// Continue this interrupted run: its settings, weights, Adam state and position.
        public var resume: ResumePoint?
        /// Stop after this many Adam steps in all, saving the resume state.
        public var maxSteps: Int?
        /// Also rewrite the resume state every this many minutes within an epoch.
        public var resumeEveryMinutes: Double?
        /// Also write TensorBoard events (rank 0).
        public var tensorBoard: TensorBoardSettings?
        /// How MPI ranks combine gradients.
        public var exchange: GradientExchange = .exact
        /// Load the test images (rank 0): for TensorBoard's grid and for generating afterwards
        /// (`data.test`); false leaves `data.test` empty.
        public var loadsTestSet = true

        /// - Parameters:
        ///   - settings: The run's settings (`TrainingOptions()`: the defaults).
        ///   - dataDirectory: The MNIST folder (nil: `MNIST.resolveDirectory(nil)`).
        ///   - outDirectory: Where the job writes its files (nil: nowhere).
        public init(settings: TrainingOptions, dataDirectory: String? = nil, outDirectory: String? = nil) {
            self.settings = settings
            self.dataDirectory = dataDirectory
            self.outDirectory = outDirectory
        }
    }

    /// The settings the job runs with (a resumed run's come from its resume state).
    public let settings: TrainingOptions
    public let data: MNIST
    public let split: Split
    /// The weights being trained; after `run()`, the kept (best) epoch's.
    public let params: Parameters
    public let engine: TrainingEngine
    public let trainer: Trainer
    public let pool: WorkerPool
    public let group: ProcessGroup
    let outDirectory: String?
    let reporter: ProgressReporter

    /// Checks the request, loads the data and builds everything.
    /// - Parameters:
    ///   - request: The settings, folders and options of the job.
    ///   - pool: The workers that train (and generate during validation).
    ///   - group: The MPI processes of the job (`SingleProcess()` alone).
    ///   - reporter: Where progress lines go (`ProgressReporter(quiet: true)` for none).
    ///   - observers: Told of every step and epoch, after the job's own (the log and plot,
    ///     TensorBoard).
    /// - Throws: `PatchRNNError` for a setting out of range, a model that does not fit in
    ///   memory, missing or damaged data, or an output folder that cannot be written.
    public init(
        _ request: Request, pool: WorkerPool, group: ProcessGroup = SingleProcess(), reporter: ProgressReporter,
        observers: [any TrainingObserver] = []
    ) throws {
        if let maxSteps = request.maxSteps {
            try TrainingOptions.check(.maxSteps, maxSteps, 1...Int.max)
            // The step limit saves the resume state, which needs a folder to go to.
            guard request.outDirectory != nil else { throw PatchRNNError.setting(.maxSteps, "needs an output folder for the resume state") }
        }
        if let minutes = request.resumeEveryMinutes { try TrainingOptions.checkResumeEvery(minutes: minutes) }
        // A resumed run keeps its settings; the memory check comes before any weights are made,
        // and every check before any folder is made.
        let settings = request.resume?.state.options ?? request.settings
        try settings.validate()
        try Self.checkMemory(settings, workers: pool.count, ranks: group.size)
        let writes = group.isRoot ? request.outDirectory : nil
        if let writes { try prepareOutputDirectory(writes) }
        if group.isRoot { try request.tensorBoard?.prepareDirectory() }
        if let resume = request.resume {
            params = resume.params
            reporter.info(
                "resuming from \(resume.path): epoch \(resume.state.progress.epoch), step \(resume.state.progress.stepInEpoch) (settings from the checkpoint)"
            )
        } else {
            params = Parameters.initialized(settings.model, seed: settings.seed)
        }
        self.settings = settings
        self.pool = pool
        self.group = group
        self.reporter = reporter
        outDirectory = writes

        let dir = MNIST.resolveDirectory(request.dataDirectory)
        let loadStart = monotonicSeconds()
        var split: Split?, held: [Int] = []
        let loadsTestSet = group.isRoot && (request.loadsTestSet || request.tensorBoard != nil)
        data = try MNIST.load(directory: dir, withTest: loadsTestSet) { fileCount in
            let s = try Self.split(settings, fileCount: fileCount)
            split = s
            if group.size == 1 {
                held = Array(0..<(s.train.count + s.validation.count))
                return held
            }
            let slots = ShardSlots(shape: settings.shape, count: s.train.count)
            held = slots.positions(rank: group.rank, size: group.size).map { s.train[$0] }
            if group.isRoot { held += s.validation }
            held.sort()
            return held
        }
        guard let split else { throw PatchRNNError("no training images were read") }
        self.split = split
        reporter.info(
            "Data from \(dir)\(data.classNames.map { " (classes: " + $0.joined(separator: ", ") + ")" } ?? ""): \(split.train.count) training, \(split.validation.count) validation, \(data.test.count) test images (loaded in \(fmt(monotonicSeconds() - loadStart, 1)) s)"
        )
        if group.size > 1 {
            reporter.info("\(group.size) MPI ranks, gradient exchange: \(request.exchange.rawValue)")
            reporter.info(
                "\(group.label): holds \(data.train.count) of the training-file images (its slots of every minibatch\(group.isRoot ? ", plus validation" : ""))"
            )
        }
        engine = try TrainingEngine(
            params: params, adamConfig: AdamConfig(learningRate: settings.learningRate),
            pool: pool, shape: settings.shape, group: group, exchange: request.exchange)
        let m = settings.model
        reporter.info(
            "model: \(m.layers) x \(m.cell.title)(\(m.hidden)) + Dense(\(m.outputSize)), \(params.layout.parameterCount) parameters; batch \(settings.batchSize), lr \(settings.learningRate), patience \(settings.patience), seed \(settings.seed)"
        )

        var configuration = Trainer.Configuration(options: settings)
        // Every rank knows the paths (the trainer writes on rank 0 only and names the file in its messages).
        configuration.checkpointPath = request.outDirectory.map { $0 + "/" + OutputFiles.checkpoint }
        configuration.resumePath = request.outDirectory.map { $0 + "/" + OutputFiles.resume }
        configuration.resumeEvery = request.resumeEveryMinutes.map { $0 * 60 }
        // The free-running validation MSE: monitored, in the log and drawn by TensorBoard; a
        // job that writes none of them (trace) needs no generator.
        let generator =
            settings.monitor == .valBottom || writes != nil || request.tensorBoard != nil
            ? try Generator(params: params, pool: pool) : nil
        configuration.generator = generator
        configuration.maxSteps = request.maxSteps
        if group.size > 1 {
            var rowOf = [Int32](repeating: -1, count: split.train.count + split.validation.count)
            for (row, i) in held.enumerated() { rowOf[i] = Int32(row) }
            configuration.rowOf = rowOf
        }
        var own: [any TrainingObserver] = []
        if let writes {
            own.append(
                TrainingFiles(
                    logPath: writes + "/" + OutputFiles.log, lossPlotPath: writes + "/" + OutputFiles.lossPlot,
                    monitor: settings.monitor))
        }
        if let tensorBoard = request.tensorBoard, group.isRoot, let generator {
            let log = try TensorBoardLog(
                tensorBoard, options: settings, firstEpoch: request.resume?.state.progress.epoch ?? 1,
                generator: generator, test: data.test, reporter: reporter)
            reporter.info("TensorBoard events: \(log.writer.path)")
            own.append(log)
        }
        trainer = try Trainer(
            configuration, engine: engine, data: data.train, split: split, reporter: reporter,
            observers: own + observers, resume: request.resume?.state)
    }

    /// Trains (`Trainer.train`: a signal or the step limit throws `TrainingInterrupted` after
    /// saving the resume state), leaves the kept epoch's weights in `params` and writes the
    /// final model.safetensors (loss.svg and the log are `TrainingFiles`', after every epoch).
    /// - Returns: Every epoch's record, the kept epoch and how training ended.
    /// - Throws: `TrainingInterrupted` after a signal or the step limit (the resume state is
    ///   saved); `PatchRNNError` when a file cannot be written or the loss becomes non-finite.
    public func run() throws -> TrainingResult {
        let result = try trainer.train()
        if let out = outDirectory {
            try Safetensors.save(
                params, metadata: settings.summary(epoch: result.bestEpoch, bestValLoss: result.bestValLoss),
                to: out + "/" + OutputFiles.checkpoint)
        }
        if group.size > 1 {
            let t = engine.timing, steps = Double(max(t.steps, 1))
            reporter.info(
                "\(group.label): per step \(fmt(1000 * t.compute / steps, 2)) ms compute, \(fmt(1000 * t.exchange / steps, 2)) ms gradient exchange, \(fmt(1000 * t.reduceAndUpdate / steps, 2)) ms sum + Adam"
            )
        }
        return result
    }

    /// Information for metrics.json: the settings, how training ended, the workers.
    /// - Parameter result: What `run()` returned.
    /// - Returns: The run's record for `Results.generate`.
    public func runInfo(_ result: TrainingResult) -> RunInfo {
        RunInfo(options: settings, result: result, threads: pool.count, processes: group.size)
    }

    /// The training / validation split of a data set of `fileCount` training-file images,
    /// checked: the batch fits the training part and the validation part is not empty. (From
    /// the file's header, before any image is decoded: the tool checks it before it creates
    /// the output folder.)
    /// - Parameters:
    ///   - options: The run's settings (seed, validation fraction, training-image limit, batch).
    ///   - fileCount: The number of images in the training file.
    /// - Returns: Training and validation indices into the training file.
    /// - Throws: `PatchRNNError` when the batch is larger than the training part or the
    ///   validation part is empty.
    public static func split(_ options: TrainingOptions, fileCount: Int) throws -> Split {
        let count = min(options.trainLimit ?? fileCount, fileCount)
        let s = Split(count: count, validationFraction: options.validationFraction, seed: options.seed)
        try options.validate(trainCount: s.train.count)
        guard !s.validation.isEmpty else {
            throw PatchRNNError("the validation split is empty: use more data or a larger validation fraction")
        }
        return s
    }

    /// Floats a training job allocates: the parameters, the best weights, the engine, the
    /// validation generator (the same plans the allocations use).
    public static func plannedFloats(_ options: TrainingOptions, workers: Int, ranks: Int = 1) -> Double {
        let layout = ParameterLayout(options.model)
        return 2 * Double(layout.paddedCount) + TrainingEngine.floats(layout, shape: options.shape, workers: workers, ranks: ranks)
            + Double(Generator.floats(layout, workers: workers))
    }

    /// Refuses, before any work, a model or batch whose buffers (and `extraFloats` more)
    /// would not fit in memory.
    /// - Parameters:
    ///   - options: The run's settings (model shape, batch and shard size).
    ///   - workers: The worker threads (each holds its own buffers).
    ///   - ranks: MPI processes on this machine's share of the job.
    ///   - extraFloats: More floats the caller will allocate.
    /// - Throws: `PatchRNNError` when the buffers would take more than 80% of physical memory.
    public static func checkMemory(_ options: TrainingOptions, workers: Int, ranks: Int = 1, extraFloats: Double = 0) throws {
        let needed = (plannedFloats(options, workers: workers, ranks: ranks) + extraFloats) * 4
        let physical = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
        if physical > 0 && needed > 0.8 * physical {
            throw PatchRNNError(
                "this model and batch need about \(fmt(needed / 1_073_741_824, 1)) GiB of buffers; the machine has \(fmt(physical / 1_073_741_824, 1)) GiB: use a smaller batch size, shard size or hidden size"
            )
        }
    }
}
