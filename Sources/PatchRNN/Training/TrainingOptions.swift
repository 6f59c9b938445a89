/// What a training run is asked to do. Saved in resume checkpoints (JSON), so a resumed run
/// continues with the settings it started with.
public struct TrainingOptions: Sendable, Codable, Equatable {
    public var model = ModelConfig.default
    public var batchSize = 64
    /// Sequences per shard: the unit of work and of the fixed gradient summation order; nil:
    /// `StepShape.defaultShardSize` of the batch size.
    public var shardSize: Int?
    public var maxEpochs = 100
    /// Early stopping: epochs without validation improvement before stopping.
    public var patience = 5
    /// Halve the learning rate after this many epochs without validation improvement
    /// (ReduceLROnPlateau); 0 disables.
    public var lrPatience = 2
    /// 2e-3: with the val_bottom monitor and scheduled sampling, 1e-3 stops before the
    /// teacher-forced error has come down (README, Results); the plain setting keeps 1e-3.
    public var learningRate: Float = 2e-3
    public var seed: UInt64 = 1
    public var validationFraction = 0.1
    /// Use only the first N training images (quick runs and tests); nil: all.
    public var trainLimit: Int?
    /// What early stopping, the kept checkpoint and the learning-rate plateau rule follow.
    public var monitor = Monitor.valBottom
    /// The smallest fall of the monitored value that counts as an improvement.
    public var minDelta = 0.0
    /// Scheduled sampling (off: plain teacher forcing).
    public var sampling = ScheduledSampling(maxProbability: 0.25, rampEpochs: 10)
    public init() {}

    /// The task's plain setting: teacher forcing, early stopping on the validation loss, Adam
    /// at 1e-3 (the defaults before generation-aware training).
    public static var plain: TrainingOptions {
        var o = TrainingOptions()
        o.monitor = .valLoss
        o.sampling = ScheduledSampling()
        o.learningRate = 1e-3
        return o
    }

    /// The validation figure a run follows.
    public enum Monitor: String, Codable, Sendable, CaseIterable {
        /// The teacher-forced validation loss.
        case valLoss = "val_loss"
        /// The free-running bottom-half MSE on (up to 2,000) validation images: what the
        /// generated bottom halves will look like.
        case valBottom = "val_bottom"
    }

    /// How each step is cut (batch and shard size; a shard larger than the batch is the batch).
    public var shape: StepShape {
        get { StepShape(batchSize: batchSize, shardSize: shardSize) }
        set { batchSize = newValue.batchSize; shardSize = newValue.shardSize }
    }

    /// The largest sizes accepted, far beyond any use and small enough that every buffer size
    /// computed from them fits in an Int (so the memory check can refuse what will not fit).
    public static let limits = (hidden: 65_536, layers: 1_024, batchSize: 1 << 24, epochs: 1_000_000, patience: 1_000_000)

    public var earlyStopping: EarlyStopping { EarlyStopping(patience: patience, minDelta: minDelta) }
    public var learningRateSchedule: PlateauSchedule { PlateauSchedule(patience: lrPatience) }

    /// Checks the options that need no data, before any work starts.
    public func validate() throws {
        let l = Self.limits
        try Self.check(.hidden, model.hidden, 1...l.hidden)
        try Self.check(.layers, model.layers, 1...l.layers)
        try Self.check(.batchSize, batchSize, 1...l.batchSize)
        if let shardSize { try Self.check(.shardSize, shardSize, 1...Int.max) }
        try Self.check(.epochs, maxEpochs, 1...l.epochs)
        try Self.check(.lrPatience, lrPatience, 0...l.patience)
        try Self.check(.patience, patience, 1...l.patience)
        guard learningRate.isFinite, learningRate > 0 else { throw PatchRNNError.setting(.learningRate, "must be a positive number (got \(learningRate))") }
        guard validationFraction > 0, validationFraction < 1 else {
            throw PatchRNNError.setting(.validationFraction, "must be between 0 and 1 (got \(validationFraction))")
        }
        if let trainLimit { try Self.check(.trainLimit, trainLimit, 2...Int.max) }
        guard minDelta.isFinite, minDelta >= 0, minDelta < 1 else {
            throw PatchRNNError.setting(.minDelta, "must be 0 or more and below 1 (got \(minDelta))")
        }
        guard sampling.maxProbability.isFinite, sampling.maxProbability >= 0, sampling.maxProbability <= 1 else {
            throw PatchRNNError.setting(.sampling, "must be a probability from 0 to 1 (got \(sampling.maxProbability))")
        }
        try Self.check(.samplingRamp, sampling.rampEpochs, 1...l.epochs)
    }

    /// `value` must lie in `range`: "must be at least 1 (got -5)" / "must be at most ...".
    public static func check(_ setting: Setting, _ value: Int, _ range: ClosedRange<Int>) throws {
        if value < range.lowerBound {
            throw PatchRNNError.setting(setting, range.lowerBound == 0 ? "must be 0 (off) or more (got \(value))" : "must be at least \(range.lowerBound) (got \(value))")
        }
        if value > range.upperBound { throw PatchRNNError.setting(setting, "must be at most \(range.upperBound) (got \(value))") }
    }

    /// How often (in minutes) a run may rewrite its resume state within an epoch: a positive
    /// number, at most a week.
    public static func checkResumeEvery(minutes: Double) throws {
        guard minutes.isFinite, minutes > 0, minutes <= 10_080 else {
            throw PatchRNNError.setting(.resumeEvery, "must be a positive number of minutes, at most 10080 (got \(minutes))")
        }
    }

    /// Also checks the batch against the training set.
    public func validate(trainCount: Int) throws {
        try validate()
        guard trainCount > 0 else {
            throw PatchRNNError.setting(.validationFraction, "\(validationFraction) leaves no training images")
        }
        guard batchSize <= trainCount else {
            throw PatchRNNError.setting(.batchSize, "\(batchSize) is larger than the \(trainCount) training sequences")
        }
    }

    /// The hyper-parameters, as recorded in checkpoint metadata and metrics.
    public func summary(epoch: Int? = nil, bestValLoss: Double? = nil) -> [String: String] {
        var m = ["format": "patchrnn-1", "cell": model.cellName, "gate_order": model.cell.gateOrder,
                 "input_size": "\(model.inputSize)", "hidden": "\(model.hidden)", "layers": "\(model.layers)",
                 "output_size": "\(model.outputSize)", "seed": "\(seed)", "batch_size": "\(batchSize)",
                 "learning_rate": "\(learningRate)", "shard_size": "\(shape.shardSize)",
                 "validation_fraction": "\(validationFraction)", "lr_patience": "\(lrPatience)",
                 "monitor": monitor.rawValue, "min_delta": "\(minDelta)",
                 "scheduled_sampling": "\(sampling.maxProbability)", "sampling_ramp_epochs": "\(sampling.rampEpochs)"]
        if let epoch { m["epoch"] = "\(epoch)" }
        if let bestValLoss { m["best_val_loss"] = "\(bestValLoss)" }
        return m
    }
}

extension TrainingOptions {
    enum CodingKeys: String, CodingKey {
        case model, batchSize, shardSize, maxEpochs, patience, lrPatience, learningRate, seed, validationFraction, trainLimit
        case monitor, minDelta, sampling
    }

    /// Resume states written before a setting existed read as that setting's old behaviour
    /// (validation loss, no min-delta, teacher forcing), so they continue as they started.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelConfig.self, forKey: .model)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        shardSize = try c.decodeIfPresent(Int.self, forKey: .shardSize)
        maxEpochs = try c.decode(Int.self, forKey: .maxEpochs)
        patience = try c.decode(Int.self, forKey: .patience)
        lrPatience = try c.decode(Int.self, forKey: .lrPatience)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        seed = try c.decode(UInt64.self, forKey: .seed)
        validationFraction = try c.decode(Double.self, forKey: .validationFraction)
        trainLimit = try c.decodeIfPresent(Int.self, forKey: .trainLimit)
        monitor = try c.decodeIfPresent(Monitor.self, forKey: .monitor) ?? .valLoss
        minDelta = try c.decodeIfPresent(Double.self, forKey: .minDelta) ?? 0
        sampling = try c.decodeIfPresent(ScheduledSampling.self, forKey: .sampling) ?? ScheduledSampling()
    }
}
