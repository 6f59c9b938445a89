/// What a trainer reports to whoever watches it: the files written after every epoch, the
/// TensorBoard events, a trace of the steps, the tool's signal handlers. A trainer is given
/// its observers when it is made (`Trainer.init`) and calls them in order. Every method has
/// an empty default: an observer implements only what it needs.
public protocol TrainingObserver: AnyObject {
    /// Just before the first step (after the data is loaded and the trainer made).
    func trainingStarts() throws
    /// After every Adam step (from 1, counting a resumed run's earlier steps), with the
    /// minibatch (indices into the training data) and its loss. Returning false ends training
    /// after this step, without a resume state (`trace`). Under MPI every rank calls its own
    /// observers: one that stops must stop on every rank after the same step.
    func stepEnded(step: Int, batch: UnsafeBufferPointer<Int>, loss: Double) -> Bool
    /// After every epoch, with its weights still in the trainer's engine and `progress` as it
    /// stands after the epoch (its history ends with `record`); `last`: training ends after it
    /// (early stopping or the last epoch).
    func epochEnded(_ record: EpochRecord, progress: TrainingProgress, last: Bool) throws
    /// Training ended normally (`interrupted` false), or a signal or the step limit stopped it
    /// after saving the resume state (true: `TrainingInterrupted` follows). Not called when
    /// training ends in an error.
    func trainingEnded(interrupted: Bool)
}

extension TrainingObserver {
    public func trainingStarts() throws {}
    public func stepEnded(step: Int, batch: UnsafeBufferPointer<Int>, loss: Double) -> Bool { true }
    public func epochEnded(_ record: EpochRecord, progress: TrainingProgress, last: Bool) throws {}
    public func trainingEnded(interrupted: Bool) {}
}

/// train-log.jsonl and loss.svg, rewritten (atomically) after every epoch.
public final class TrainingFiles: TrainingObserver {
    public let logPath: String
    public let lossPlotPath: String
    let monitor: TrainingOptions.Monitor

    public init(logPath: String, lossPlotPath: String, monitor: TrainingOptions.Monitor) {
        self.logPath = logPath
        self.lossPlotPath = lossPlotPath
        self.monitor = monitor
    }

    public func epochEnded(_ record: EpochRecord, progress p: TrainingProgress, last: Bool) throws {
        try TrainingLog.write(p.history, to: logPath)
        try writeFileAtomically(
            lossPlotSVG(
                train: p.history.map(\.trainLoss), validation: p.history.map(\.valLoss),
                validationBottom: p.history.map(\.valBottomMSE), bestEpoch: p.bestEpoch,
                monitor: monitor), to: lossPlotPath)
    }
}

/// train-log.jsonl: one EpochRecord per line.
enum TrainingLog {
    static func write(_ history: [EpochRecord], to path: String) throws {
        var text = ""
        for r in history { text += try jsonText(r, pretty: false) }
        try writeFileAtomically(text, to: path)
    }
}
