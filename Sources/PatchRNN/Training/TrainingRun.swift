import Foundation

/// The training job behind `train` and `run`: data, engine, trainer and the files they write.
public enum TrainingRun {
    public struct Outcome {
        public let params: Parameters
        public let result: TrainingResult
        /// The options the run used (a resumed run's come from its checkpoint).
        public let options: TrainingOptions
        public let data: MNIST
    }

    /// Loads MNIST, trains with early stopping, writes the checkpoint, the log and the plot.
    /// With `resume`, the options, weights, Adam state and position come from that file.
    /// `resume.safetensors` is rewritten at every epoch's end (and every `resumeEveryMinutes`).
    /// `armInterrupts` (the tool's: install the signal handlers) is called just before the
    /// first step, `disarmInterrupts` as soon as training ends (told whether a signal already
    /// stopped it); not when training ends in an error, which a signal must not swallow.
    /// Under MPI (`group.size > 1`) every rank loads only its part of the training set, rank 0
    /// also the validation and test sets, and only rank 0 writes files (every rank reads
    /// `resume`, so it must be on a file system all ranks see).
    /// With `tensorBoard`, rank 0 also writes TensorBoard events (`TensorBoardLog`).
    public static func train(dataDirectory: String?, outDirectory: String, options requested: TrainingOptions,
                             pool: WorkerPool, reporter: ProgressReporter, resume: ResumePoint? = nil,
                             maxSteps: Int? = nil, resumeEveryMinutes: Double? = nil, armInterrupts: () -> Void = {}, disarmInterrupts: (_ signalHandled: Bool) -> Void = { _ in },
                             group: ProcessGroup = SingleProcess(), exchange: GradientExchange = .exact,
                             tensorBoard: TensorBoardSettings? = nil) throws -> Outcome {
        if let maxSteps, maxSteps < 1 { throw PatchRNNError.setting(.maxSteps, "must be at least 1 (got \(maxSteps))") }
        if let tensorBoard { try TensorBoardSettings.checkImagesEvery(tensorBoard.imagesEvery) }
        if let resumeEveryMinutes { try TrainingOptions.checkResumeEvery(minutes: resumeEveryMinutes) }
        if group.isRoot {
            try prepareOutputDirectory(outDirectory)
            try tensorBoard?.validate()
        }
        var options = requested
        var resumeState: ResumeState?
        var params: Parameters
        if let resume {
            let state = resume.state
            options = state.options
            try checkMemory(options, workers: pool.count, ranks: group.size)
            params = resume.params
            resumeState = state
            reporter.info("resuming from \(resume.path): epoch \(state.progress.epoch), step \(state.progress.stepInEpoch) (settings from the checkpoint)")
        } else {
            try options.validate()
            try checkMemory(options, workers: pool.count, ranks: group.size)
            params = Parameters.initialized(options.model, seed: options.seed)
        }
        let dir = MNIST.resolveDirectory(dataDirectory)
        let loadStart = monotonicSeconds()
        var split: Split?, held: [Int] = []
        let mnist = try MNIST.load(directory: dir, withTest: group.isRoot) { fileCount in
            let s = try Self.split(options, fileCount: fileCount)
            let count = s.train.count + s.validation.count
            split = s
            if group.size == 1 { held = Array(0..<count); return held }
            let slots = ShardSlots(shape: options.shape, count: s.train.count)
            held = slots.positions(rank: group.rank, size: group.size).map { s.train[$0] }
            if group.isRoot { held += s.validation }
            held.sort()
            return held
        }
        guard let split else { throw PatchRNNError("no training images were read") }
        reporter.info("Data from \(dir)\(mnist.classNames.map { " (classes: " + $0.joined(separator: ", ") + ")" } ?? ""): \(split.train.count) training, \(split.validation.count) validation, \(mnist.test.count) test images (loaded in \(fmt(monotonicSeconds() - loadStart, 1)) s)")
        if group.size > 1 {
            reporter.info("\(group.size) MPI ranks, gradient exchange: \(exchange.rawValue)")
            reporter.info("\(group.label): holds \(mnist.train.count) of the training-file images (its slots of every minibatch\(group.isRoot ? ", plus validation" : ""))")
        }
        let engine = try TrainingEngine(params: params, adamConfig: AdamConfig(learningRate: options.learningRate),
                                        pool: pool, shape: options.shape, group: group, exchange: exchange)
        let m = options.model
        reporter.info("model: \(m.layers) x \(m.cell.title)(\(m.hidden)) + Dense(\(m.outputSize)), \(params.layout.parameterCount) parameters; batch \(options.batchSize), lr \(options.learningRate), patience \(options.patience), seed \(options.seed)")
        var configuration = Trainer.Configuration(options: options)
        configuration.checkpointPath = outDirectory + "/" + OutputFiles.checkpoint
        configuration.logPath = outDirectory + "/" + OutputFiles.log
        configuration.resumePath = outDirectory + "/" + OutputFiles.resume
        configuration.resumeEvery = resumeEveryMinutes.map { $0 * 60 }
        configuration.lossPlotPath = outDirectory + "/" + OutputFiles.lossPlot
        configuration.generator = try Generator(params: params, pool: pool)
        configuration.maxSteps = maxSteps
        if group.size > 1 {
            var rowOf = [Int32](repeating: -1, count: split.train.count + split.validation.count)
            for (row, i) in held.enumerated() { rowOf[i] = Int32(row) }
            configuration.rowOf = rowOf
        }
        var tensorBoardLog: TensorBoardLog?
        if tensorBoard != nil && group.isRoot {
            // The event files are an extra view of the run: if writing them fails (a full
            // disk), say so once and train on; the checkpoint and the log are what matter.
            configuration.onEpoch = { record in
                do { try tensorBoardLog?.record(record) } catch {
                    reporter.info("warning: TensorBoard events are no longer written: \(error)")
                    tensorBoardLog = nil
                }
            }
        }
        let trainer = try Trainer(configuration, engine: engine, data: mnist.train, split: split, reporter: reporter, resume: resumeState)
        if let tensorBoard, group.isRoot, let generator = configuration.generator {
            tensorBoardLog = try TensorBoardLog(tensorBoard, options: options, firstEpoch: trainer.progress.epoch, generator: generator, test: mnist.test)
            reporter.info("TensorBoard events: \(tensorBoardLog!.writer.path)")
        }
        // Signals stop training between steps (with a resume state) only while it runs: before
        // (loading data) and after (final files, generation) they end the process at once.
        armInterrupts()
        let result: TrainingResult
        do {
            result = try trainer.train()
        } catch let interrupted as TrainingInterrupted {
            disarmInterrupts(true)  // the signal stopped training: it has had its effect
            throw interrupted
        } catch {
            // An error is on its way to be reported. The handlers stay (they only record): a
            // signal already pending is not raised, and one that comes while the error is
            // printed cannot end the process first and swallow it. The exit status is the
            // error's.
            throw error
        }
        disarmInterrupts(false)  // a signal that came during the last validation acts now
        if group.isRoot {
            try Safetensors.save(params, metadata: options.summary(epoch: result.bestEpoch, bestValLoss: result.bestValLoss),
                                 to: outDirectory + "/" + OutputFiles.checkpoint)
            try writeFileAtomically(lossPlotSVG(train: result.history.map(\.trainLoss), validation: result.history.map(\.valLoss),
                                                validationBottom: result.history.map(\.valBottomMSE),
                                                bestEpoch: result.bestEpoch, monitor: result.monitor), to: outDirectory + "/" + OutputFiles.lossPlot)
        }
        if group.size > 1 {
            let t = engine.timing, steps = Double(max(t.steps, 1))
            reporter.info("\(group.label): per step \(fmt(1000 * t.compute / steps, 2)) ms compute, \(fmt(1000 * t.exchange / steps, 2)) ms gradient exchange, \(fmt(1000 * t.reduceAndUpdate / steps, 2)) ms sum + Adam")
        }
        return Outcome(params: params, result: result, options: options, data: mnist)
    }

    /// The training / validation split of a data set of `fileCount` training-file images,
    /// checked: the batch fits the training part and the validation part is not empty. (From
    /// the file's header, before any image is decoded: the tool checks it before it creates
    /// the output folder.)
    public static func split(_ options: TrainingOptions, fileCount: Int) throws -> Split {
        let count = min(options.trainLimit ?? fileCount, fileCount)
        let s = Split(count: count, validationFraction: options.validationFraction, seed: options.seed)
        try options.validate(trainCount: s.train.count)
        guard !s.validation.isEmpty else { throw PatchRNNError("the validation split is empty: use more data or a larger validation fraction") }
        return s
    }

    /// Floats a training run allocates: the parameters, the best weights, the engine, the
    /// validation generator (the same plans the allocations use).
    public static func plannedFloats(_ options: TrainingOptions, workers: Int, ranks: Int = 1) -> Double {
        let layout = ParameterLayout(options.model)
        return 2 * Double(layout.paddedCount) + TrainingEngine.floats(layout, shape: options.shape, workers: workers, ranks: ranks)
            + Double(Generator.floats(layout, workers: workers))
    }

    /// Refuses, before any work, a model or batch whose buffers (and `extraFloats` more)
    /// would not fit in memory.
    public static func checkMemory(_ options: TrainingOptions, workers: Int, ranks: Int = 1, extraFloats: Double = 0) throws {
        let needed = (plannedFloats(options, workers: workers, ranks: ranks) + extraFloats) * 4
        let physical = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
        if physical > 0 && needed > 0.8 * physical {
            throw PatchRNNError("this model and batch need about \(fmt(needed / 1_073_741_824, 1)) GiB of buffers; the machine has \(fmt(physical / 1_073_741_824, 1)) GiB: use a smaller batch size, shard size or hidden size")
        }
    }
}
