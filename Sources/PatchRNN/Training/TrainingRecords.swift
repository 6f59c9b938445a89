// What a training run records: each epoch, where it stands between steps, how it ended.

/// One epoch's record (a line of train-log.jsonl).
public struct EpochRecord: Codable, Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var valLoss: Double
    /// Free-running bottom-half MSE on (up to 2,000 of) the validation images: what the
    /// generated digits will look like, which teacher-forced loss alone does not show.
    public var valBottomMSE: Double?
    public var seconds: Double
    public var samplesPerSecond: Double
    public var best: Bool
    public var learningRate: Double
    /// Scheduled sampling's probability of feeding a prediction back in this epoch (nil: off).
    public var samplingProbability: Double?

    enum CodingKeys: String, CodingKey {
        case epoch, seconds, best
        case trainLoss = "train_loss"
        case valLoss = "val_loss"
        case samplesPerSecond = "samples_per_s"
        case valBottomMSE = "val_bottom_mse"
        case learningRate = "learning_rate"
        case samplingProbability = "sampling_probability"
    }
}

/// How a training run ended: what `Trainer.train()` and `TrainingJob.run()` return.
public struct TrainingResult: Sendable {
    /// Every epoch's record, from the first (a resumed run's earlier epochs included).
    public var history: [EpochRecord]
    /// The kept epoch: the one whose weights the trainer left in the engine.
    public var bestEpoch: Int
    /// The validation loss of the kept (best) epoch.
    public var bestValLoss: Double
    /// What decided the kept epoch, and its value there.
    public var monitor: TrainingOptions.Monitor
    public var bestMonitored: Double
    /// Seconds spent training (this process's part of a resumed run).
    public var trainSeconds: Double
    /// Early stopping ended the run before its last epoch.
    public var stoppedEarly: Bool
}

/// Where a run stands between two steps: everything, besides the weights and Adam's moments,
/// that an interrupted run needs to continue exactly as if it had not stopped.
public struct TrainingProgress: Codable, Sendable {
    public var epoch = 1  // the epoch in progress, from 1
    public var stepInEpoch = 0  // steps of it already done
    public var lossSum = 0.0  // sum of batch loss x batch size so far in this epoch
    public var samples = 0
    public var secondsSoFar = 0.0  // training time spent in this epoch before the stop
    public var globalStep = 0
    /// The best value of the monitored figure so far (`TrainingOptions.monitor`; the name is
    /// from when it was always the validation loss, kept so older resume states still read).
    public var bestValLoss = Double.infinity
    public var bestEpoch = 0
    public var sinceBest = 0
    public var learningRate: Float = 1e-3
    public var history: [EpochRecord] = []
    public init() {}
}

/// Thrown when SIGINT or SIGTERM (or, with signal 0, the step limit) stopped training after a
/// step and a resume checkpoint was written. The tool exits with 128 + signal (130 for SIGINT,
/// 143 for SIGTERM; 0 for the step limit).
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public let signal: Int32
    public let checkpoint: String
    public let progress: TrainingProgress
    public var description: String {
        let why = signal == 0 ? "stopped at the step limit" : "interrupted (signal \(signal))"
        return
            "\(why) in epoch \(progress.epoch) after step \(progress.stepInEpoch); state saved to \(checkpoint); continue with --resume \(checkpoint)"
    }
}
