import Foundation

/// Epochs of minibatch Adam with a seeded shuffle, validation after each epoch, early stopping
/// with patience, and the best weights restored at the end. A checkpoint of the best weights
/// is written (atomically) whenever validation improves, and everything needed to resume
/// (`ResumeState`) at every epoch's end, so a run killed outright (kill -9, the OOM killer, a
/// lost node) loses at most the epoch in progress. A signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT)
/// ends the current step, saves the state and stops; a trainer made with that state continues
/// to bit-identical weights.
public final class Trainer {
    /// Everything a trainer is told before it starts; it changes none of it.
    public struct Configuration {
        public var options: TrainingOptions
        /// The best weights, rewritten when validation improves (nil: not written).
        public var checkpointPath: String?
        /// Where the resume state goes: rewritten (atomically) at every epoch's end, every
        /// `resumeEvery` seconds, and when training is stopped by a signal or the step limit.
        /// nil: written only when stopped, beside the checkpoint.
        public var resumePath: String?
        /// Also write the resume state after the first step that ends this many seconds after
        /// the last write (nil: at epoch ends only). For epochs long enough that losing one hurts.
        public var resumeEvery: Double?
        /// When set, each epoch also measures the free-running bottom-half MSE on validation images.
        public var generator: Generator?
        /// Stop after this many Adam steps in all (a resumed run's earlier steps count), saving
        /// the resume state as an interruption would: for time-boxed runs and checks.
        public var maxSteps: Int?
        /// Asked after every step; a non-zero signal number stops training with a resume
        /// checkpoint. Default: the SIGINT/SIGTERM flag (`Interrupts`).
        public var interruptSignal: () -> Int32 = { Interrupts.signal }
        /// Where each training-file index sits in the data when this process holds only part
        /// of the training set (an MPI rank: -1 for images it does not hold); nil: the data is
        /// indexed by training-file index.
        public var rowOf: [Int32]?

        public init(options: TrainingOptions) { self.options = options }
    }

    public let configuration: Configuration
    public let engine: TrainingEngine
    public let data: PatchSet
    public let split: Split
    public let reporter: ProgressReporter
    /// Told of every step and epoch, in order (`TrainingObserver`).
    public let observers: [any TrainingObserver]
    /// Where the run stands (the start state before `train`, the end state after it).
    public private(set) var progress = TrainingProgress()
    public var options: TrainingOptions { configuration.options }
    private let best: Parameters
    private let slots: ShardSlots
    private var group: ProcessGroup { engine.group }

    /// A new run, or (with `resume`) the continuation of an interrupted one; the engine's
    /// parameters must already hold the weights to start from. (`TrainingJob` makes one with
    /// everything wired; make one directly to drive an engine of your own.)
    /// - Parameters:
    ///   - configuration: The settings and where the checkpoint and resume state go.
    ///   - engine: The engine holding the weights, cut as `configuration.options.shape`.
    ///   - data: The training (and validation) sequences.
    ///   - split: Which of `data` train and which validate.
    ///   - reporter: Where progress lines go.
    ///   - observers: Told of every step and epoch, in order.
    ///   - resume: The state of an interrupted run to continue.
    /// - Throws: `PatchRNNError` when the engine, the options and the resume state disagree.
    public init(
        _ configuration: Configuration, engine: TrainingEngine, data: PatchSet, split: Split,
        reporter: ProgressReporter, observers: [any TrainingObserver] = [], resume: ResumeState? = nil
    ) throws {
        guard engine.shape == configuration.options.shape else {
            throw PatchRNNError("the engine cuts steps as \(engine.shape), the options as \(configuration.options.shape)")
        }
        if configuration.options.monitor == .valBottom && configuration.generator == nil {
            throw PatchRNNError.setting(.monitor, "val_bottom needs a generator to measure the validation bottom halves")
        }
        self.configuration = configuration
        self.engine = engine
        self.data = data
        self.split = split
        self.reporter = reporter
        self.observers = observers
        best = engine.params.copy()
        slots = ShardSlots(shape: configuration.options.shape, count: split.train.count)
        progress.learningRate = configuration.options.learningRate
        if let resume {
            let n = engine.layout.paddedCount
            guard resume.adamM.count == n, resume.adamV.count == n, resume.bestParameters.count == n,
                resume.options.model == engine.layout.config
            else {
                throw PatchRNNError(
                    "the resume state does not belong to this model (\(engine.layout.config.cell.title), hidden \(engine.layout.config.hidden), \(engine.layout.config.layers) layers)"
                )
            }
            engine.adam.m.pointer.update(from: resume.adamM, count: n)
            engine.adam.v.pointer.update(from: resume.adamV, count: n)
            best.buffer.pointer.update(from: resume.bestParameters, count: n)
            engine.adam.step = resume.adamStep
            progress = resume.progress
            try resume.checkPosition(trainCount: split.train.count)
        }
    }

    /// The training order of an epoch (training-file indices): seeded by (seed, epoch) alone,
    /// so a resumed run needs no generator state; drawn by `ShardSlots`, so each MPI rank
    /// needs only its own part of the data.
    public func epochOrder(_ epoch: Int) -> [Int] {
        slots.epochOrder(split.train, seed: options.seed, epoch: epoch)
    }

    /// Training-file indices as rows of `data` (-1: not held by this process).
    func rows(_ indices: [Int]) -> [Int] {
        guard let rowOf = configuration.rowOf else { return indices }
        return indices.map { Int(rowOf[$0]) }
    }

    /// Trains until early stopping, the last epoch, an observer's stop, the step limit (which
    /// throws `TrainingInterrupted` with signal 0) or a signal (`TrainingInterrupted`), and
    /// leaves the best weights in the engine.
    /// - Returns: Every epoch's record, the kept epoch and how training ended.
    /// - Throws: `TrainingInterrupted` (the resume state saved); `PatchRNNError` when a file
    ///   cannot be written or the loss becomes non-finite (naming what was saved).
    public func train() throws -> TrainingResult {
        for observer in observers { try observer.trainingStarts() }
        let result: TrainingResult
        do {
            result = try trainEpochs()
        } catch let interrupted as TrainingInterrupted {
            for observer in observers { observer.trainingEnded(interrupted: true) }
            throw interrupted
        }
        for observer in observers { observer.trainingEnded(interrupted: false) }
        return result
    }

    private func trainEpochs() throws -> TrainingResult {
        engine.adamConfig.learningRate = progress.learningRate
        let start = monotonicSeconds()
        var p = progress
        var stoppedEarly = false
        defer { progress = p }
        lastResumeSave = start
        if p.epoch <= options.maxEpochs {
            for epoch in p.epoch...options.maxEpochs {
                if epoch != p.epoch {  // a fresh epoch (a resumed one keeps its position and loss sums)
                    p.epoch = epoch
                    p.stepInEpoch = 0
                    p.lossSum = 0
                    p.samples = 0
                    p.secondsSoFar = 0
                }
                let t0 = monotonicSeconds() - p.secondsSoFar
                let epochLearningRate = engine.adamConfig.learningRate
                guard try runSteps(of: epoch, &p, startedAt: t0) else { break }  // an observer asked to stop
                let trainSeconds = monotonicSeconds() - t0
                let (val, valBottom) = try validate()
                let monitored = options.monitor == .valBottom ? valBottom ?? .nan : val
                let improved = options.earlyStopping.observe(monitored, epoch: epoch, &p)
                if improved {
                    best.buffer.copy(from: engine.params.buffer)
                    if let path = configuration.checkpointPath, group.isRoot {
                        try Safetensors.save(best, metadata: options.summary(epoch: epoch, bestValLoss: val), to: path)
                    }
                }
                let nextRate = options.learningRateSchedule.next(engine.adamConfig.learningRate, sinceBest: p.sinceBest)
                let lrNote = nextRate != engine.adamConfig.learningRate ? " - learning rate -> \(nextRate)" : ""
                engine.adamConfig.learningRate = nextRate
                p.learningRate = nextRate
                let record = EpochRecord(
                    epoch: epoch, trainLoss: p.lossSum / Double(p.samples), valLoss: val, valBottomMSE: valBottom,
                    seconds: monotonicSeconds() - t0, samplesPerSecond: Double(p.samples) / trainSeconds,
                    best: improved, learningRate: Double(epochLearningRate),
                    samplingProbability: options.sampling.isOn ? options.sampling.probability(epoch: epoch) : nil)
                p.history.append(record)
                p.stepInEpoch = stepsPerEpoch  // this epoch is complete
                reporter.info(
                    "Epoch \(epoch)/\(options.maxEpochs) - \(fmt(record.seconds, 1))s - loss: \(fmt(record.trainLoss, 5)) - val_loss: \(fmt(val, 5))\(valBottom.map { " - val_bottom: " + fmt($0, 5) } ?? "") - \(Int(record.samplesPerSecond)) samples/s\(improved ? " *" : "")\(lrNote)"
                )
                stoppedEarly = options.earlyStopping.shouldStop(p)
                let last = stoppedEarly || epoch == options.maxEpochs
                for observer in observers { try observer.epochEnded(record, progress: p, last: last) }
                // The epoch is complete: the state to resume from is the start of the next one
                // (after the last epoch: marked finished, nothing to resume).
                if configuration.resumePath != nil {
                    var next = p
                    next.epoch = epoch + 1
                    next.stepInEpoch = 0
                    next.lossSum = 0
                    next.samples = 0
                    next.secondsSoFar = 0
                    try saveResumeState(next, finished: last)
                }
                if stoppedEarly {
                    reporter.info(
                        "Early stopping: \(options.monitor.rawValue) has not improved for \(options.patience) epochs; restoring epoch \(p.bestEpoch) (\(options.monitor.rawValue) \(fmt(p.bestValLoss, 5)))"
                    )
                    break
                }
            }
        }
        engine.params.buffer.copy(from: best.buffer)
        let bestValLoss = p.history.first { $0.epoch == p.bestEpoch }?.valLoss ?? .nan
        return TrainingResult(
            history: p.history, bestEpoch: p.bestEpoch, bestValLoss: bestValLoss, monitor: options.monitor,
            bestMonitored: p.bestValLoss, trainSeconds: monotonicSeconds() - start, stoppedEarly: stoppedEarly)
    }

    private var stepsPerEpoch: Int { (split.train.count + options.batchSize - 1) / options.batchSize }

    /// The rest of an epoch's steps. Returns false when an observer asked to stop; throws
    /// `TrainingInterrupted` (after saving the resume state) on a signal.
    private func runSteps(of epoch: Int, _ p: inout TrainingProgress, startedAt t0: Double) throws -> Bool {
        let fileOrder = epochOrder(epoch)
        let order = rows(fileOrder), steps = stepsPerEpoch, batchSize = options.batchSize
        let probability = options.sampling.probability(epoch: epoch)
        return try order.withUnsafeBufferPointer { all in
            try fileOrder.withUnsafeBufferPointer { ids in
                while p.stepInEpoch < steps {
                    if let maxSteps = configuration.maxSteps, p.globalStep >= maxSteps {  // a resumed run already there
                        try saveAndStop(signal: 0, &p, elapsed: monotonicSeconds() - t0)
                    }
                    let lo = p.stepInEpoch * batchSize, hi = min(lo + batchSize, all.count)
                    let batch = UnsafeBufferPointer(rebasing: all[lo..<hi])
                    // Scheduled sampling's draws name sequences by training-file index, as every rank does.
                    let feedback =
                        probability > 0
                        ? FeedbackDraw(probability: probability, seed: options.seed, epoch: epoch, sequenceIDs: ids.baseAddress! + lo) : nil
                    let loss: Double
                    do { loss = try engine.step(data, batch, feedback: feedback) } catch let diverged as NonFiniteLoss {
                        throw explained(diverged, p)
                    }
                    p.stepInEpoch += 1
                    p.globalStep += 1
                    p.lossSum += loss * Double(hi - lo)
                    p.samples += hi - lo
                    let elapsed = monotonicSeconds() - t0
                    reporter.step(
                        epoch: epoch, epochs: options.maxEpochs, done: p.stepInEpoch, total: steps,
                        loss: p.lossSum / Double(p.samples), samplesPerSecond: Double(p.samples) / elapsed, elapsed: elapsed)
                    var proceed = true
                    for observer in observers where !observer.stepEnded(step: p.globalStep, batch: batch, loss: loss) { proceed = false }
                    // Every rank must stop after the same step: agree on the signal.
                    let signal = group.size > 1 ? try group.maximum(configuration.interruptSignal()) : configuration.interruptSignal()
                    if signal != 0 { try saveAndStop(signal: signal, &p, elapsed: elapsed) }
                    if let maxSteps = configuration.maxSteps, p.globalStep >= maxSteps { try saveAndStop(signal: 0, &p, elapsed: elapsed) }
                    if let every = configuration.resumeEvery, configuration.resumePath != nil, monotonicSeconds() - lastResumeSave >= every
                    {
                        var now = p
                        now.secondsSoFar = elapsed
                        now.learningRate = engine.adamConfig.learningRate
                        try saveResumeState(now, finished: false)
                    }
                    if !proceed { return false }
                }
                return true
            }
        }
    }

    private func saveAndStop(signal: Int32, _ p: inout TrainingProgress, elapsed: Double) throws -> Never {
        p.secondsSoFar = elapsed
        p.learningRate = engine.adamConfig.learningRate
        try saveResumeState(p, finished: false)
        try group.barrier()  // the file is complete before any rank reports it
        throw TrainingInterrupted(signal: signal, checkpoint: resumePath, progress: p)
    }

    /// The resume file: the configured one, else `resume.safetensors` beside the checkpoint.
    private var resumePath: String {
        configuration.resumePath
            ?? ((configuration.checkpointPath.map { ($0 as NSString).deletingLastPathComponent } ?? ".") + "/" + OutputFiles.resume)
    }

    /// When the resume state was last written (monotonic seconds), for `resumeEvery`.
    private var lastResumeSave = 0.0

    /// Writes the resume state for position `p` with the engine's weights and Adam state (rank
    /// 0 only: every rank holds the same).
    private func saveResumeState(_ p: TrainingProgress, finished: Bool) throws {
        if group.isRoot {
            try ResumeState.save(
                params: engine.params, adam: engine.adam, best: best, options: options, progress: p,
                finished: finished, to: resumePath)
        }
        lastResumeSave = monotonicSeconds()
    }

    /// A non-finite loss, with what is true about the weights saved so far.
    private func explained(_ e: NonFiniteLoss, _ p: TrainingProgress) -> PatchRNNError {
        var saved = ""  // (a run that writes no checkpoint says nothing about one)
        if let path = configuration.checkpointPath {
            saved =
                p.bestEpoch > 0
                ? "; \(path) keeps the weights of epoch \(p.bestEpoch), the last that improved"
                : "; no epoch had improved yet, so no model was saved"
        }
        return PatchRNNError("\(e.description)\(saved); try a lower learning rate")
    }

    /// The validation loss and free-running bottom-half MSE, measured where the validation
    /// images are (rank 0) and broadcast, so every rank takes the same decisions.
    private func validate() throws -> (loss: Double, bottom: Double?) {
        var measured = [Double.nan, Double.nan]
        if group.isRoot {
            let validationRows = rows(split.validation)
            measured[0] = try engine.meanLoss(data, validationRows)
            if let generator = configuration.generator {
                measured[1] = try bottomHalfMSE(generator: generator, data: data, indices: Array(validationRows.prefix(2000)))
            }
        }
        try measured.withUnsafeMutableBufferPointer { try group.broadcast($0.baseAddress!, count: 2, root: 0) }
        return (measured[0], measured[1].isNaN ? nil : measured[1])
    }
}
