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
    public var learningRate: Float = 1e-3
    public var seed: UInt64 = 1
    public var validationFraction = 0.1
    /// Use only the first N training images (quick runs and tests); nil: all.
    public var trainLimit: Int?
    public init() {}

    /// How each step is cut (batch and shard size; a shard larger than the batch is the batch).
    public var shape: StepShape {
        get { StepShape(batchSize: batchSize, shardSize: min(shardSize ?? StepShape.defaultShardSize(batchSize: batchSize), batchSize)) }
        set { batchSize = newValue.batchSize; shardSize = newValue.shardSize }
    }

    /// The largest sizes accepted, far beyond any use and small enough that every buffer size
    /// computed from them fits in an Int (so the memory check can refuse what will not fit).
    public static let limits = (hidden: 65_536, layers: 1_024, batchSize: 1 << 24, epochs: 1_000_000, patience: 1_000_000)

    public var earlyStopping: EarlyStopping { EarlyStopping(patience: patience) }
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
    }

    /// `value` must lie in `range`: "must be at least 1 (got -5)" / "must be at most ...".
    public static func check(_ setting: Setting, _ value: Int, _ range: ClosedRange<Int>) throws {
        if value < range.lowerBound {
            throw PatchRNNError.setting(setting, range.lowerBound == 0 ? "must be 0 (off) or more (got \(value))" : "must be at least \(range.lowerBound) (got \(value))")
        }
        if value > range.upperBound { throw PatchRNNError.setting(setting, "must be at most \(range.upperBound) (got \(value))") }
    }

    /// Also checks the batch against the training set.
    public func validate(trainCount: Int) throws {
        try validate()
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
                 "validation_fraction": "\(validationFraction)", "lr_patience": "\(lrPatience)"]
        if let epoch { m["epoch"] = "\(epoch)" }
        if let bestValLoss { m["best_val_loss"] = "\(bestValLoss)" }
        return m
    }
}
