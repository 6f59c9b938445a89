/// What a training run is asked to do. Saved in resume checkpoints (JSON), so a resumed run
/// continues with the settings it started with.
public struct TrainingOptions: Sendable, Codable, Equatable {
    public var model = ModelConfig.default
    public var batchSize = 64
    /// Sequences per shard: the unit of work and of the fixed gradient summation order.
    public var shardSize = 16
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

    /// How each step is cut (batch and shard size).
    public var shape: StepShape {
        get { StepShape(batchSize: batchSize, shardSize: shardSize) }
        set { batchSize = newValue.batchSize; shardSize = newValue.shardSize }
    }

    public var earlyStopping: EarlyStopping { EarlyStopping(patience: patience) }
    public var learningRateSchedule: PlateauSchedule { PlateauSchedule(patience: lrPatience) }

    /// Checks the options that need no data, before any work starts.
    public func validate() throws {
        guard model.hidden >= 1 else { throw PatchRNNError.setting(.hidden, "must be at least 1 (got \(model.hidden))") }
        guard model.layers >= 1 else { throw PatchRNNError.setting(.layers, "must be at least 1 (got \(model.layers))") }
        guard batchSize >= 1 else { throw PatchRNNError.setting(.batchSize, "must be at least 1 (got \(batchSize))") }
        guard shardSize >= 1 else { throw PatchRNNError.setting(.shardSize, "must be at least 1 (got \(shardSize))") }
        guard maxEpochs >= 1 else { throw PatchRNNError.setting(.epochs, "must be at least 1 (got \(maxEpochs))") }
        guard lrPatience >= 0 else { throw PatchRNNError.setting(.lrPatience, "must be 0 (off) or more (got \(lrPatience))") }
        guard patience >= 1 else { throw PatchRNNError.setting(.patience, "must be at least 1 (got \(patience))") }
        guard learningRate.isFinite, learningRate > 0 else { throw PatchRNNError.setting(.learningRate, "must be a positive number (got \(learningRate))") }
        guard validationFraction > 0, validationFraction < 1 else {
            throw PatchRNNError.setting(.validationFraction, "must be between 0 and 1 (got \(validationFraction))")
        }
        if let trainLimit, trainLimit < 2 { throw PatchRNNError.setting(.trainLimit, "must be at least 2 (got \(trainLimit))") }
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
                 "learning_rate": "\(learningRate)", "shard_size": "\(shardSize)",
                 "validation_fraction": "\(validationFraction)", "lr_patience": "\(lrPatience)"]
        if let epoch { m["epoch"] = "\(epoch)" }
        if let bestValLoss { m["best_val_loss"] = "\(bestValLoss)" }
        return m
    }
}
