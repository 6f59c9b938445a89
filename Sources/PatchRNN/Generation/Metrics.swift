import Foundation

/// Test-set results of a model: free-running bottom-half MSE per class and overall, and the
/// teacher-forced MSE. The JSON keys are the interface scripts rely on.
public struct TestMetrics: Sendable, Codable, Equatable {
    public var testFreeRunningBottomMSE: Double
    public var testTeacherForcedMSE: Double
    /// nil (JSON null) for a class with no test images.
    public var perClassBottomMSE: [Double?]
    public var perClassCount: [Int]
    public var generationSeconds: Double
    /// The data set's names of the classes (absent: the classes are their labels 0-9).
    public var classNames: [String]?

    enum CodingKeys: String, CodingKey {
        case testFreeRunningBottomMSE = "test_free_running_bottom_mse"
        case testTeacherForcedMSE = "test_teacher_forced_mse"
        case perClassBottomMSE = "per_class_bottom_mse"
        case perClassCount = "per_class_count"
        case generationSeconds = "generation_seconds"
        case classNames = "class_names"
    }
}

/// How the model that was measured came about: the training run (`run`) or the checkpoint
/// (`generate`). Absent fields are left out of the file.
public struct RunInfo: Sendable, Codable, Equatable {
    public var cell: String?
    public var hidden: Int?
    public var layers: Int?
    public var batchSize: Int?
    public var seed: UInt64?
    public var learningRate: Double?
    public var epochs: Int?
    public var bestEpoch: Int?
    public var bestValLoss: Double?
    /// What early stopping followed (val_loss or val_bottom) and its value at the kept epoch.
    public var monitor: String?
    public var bestMonitored: Double?
    /// Scheduled sampling's probability after the ramp (0: teacher forcing) and the ramp's epochs.
    public var scheduledSampling: Double?
    public var samplingRampEpochs: Int?
    public var shardSize: Int?
    public var trainSeconds: Double?
    public var stoppedEarly: Bool?
    public var threads: Int?
    public var processes: Int?
    public var checkpoint: String?

    public init() {}

    /// The settings of a training run (the effective ones: a resumed run's come from its checkpoint).
    public init(options o: TrainingOptions, result r: TrainingResult, threads: Int, processes: Int) {
        cell = o.model.cellName
        hidden = o.model.hidden
        layers = o.model.layers
        batchSize = o.batchSize
        seed = o.seed
        learningRate = o.learningRate.decimal
        epochs = r.history.count
        bestEpoch = r.bestEpoch
        bestValLoss = r.bestValLoss
        monitor = r.monitor.rawValue
        bestMonitored = r.bestMonitored
        scheduledSampling = o.sampling.maxProbability
        samplingRampEpochs = o.sampling.rampEpochs
        shardSize = o.shape.shardSize
        trainSeconds = r.trainSeconds
        stoppedEarly = r.stoppedEarly
        self.threads = threads
        self.processes = processes
    }

    enum CodingKeys: String, CodingKey {
        case cell, hidden, layers, seed, epochs, threads, processes, checkpoint
        case batchSize = "batch_size", learningRate = "learning_rate", bestEpoch = "best_epoch"
        case bestValLoss = "best_val_loss", trainSeconds = "train_seconds", stoppedEarly = "stopped_early"
        case monitor, bestMonitored = "best_monitored", scheduledSampling = "scheduled_sampling"
        case samplingRampEpochs = "sampling_ramp_epochs", shardSize = "shard_size"
    }
}

/// metrics.json (and `evaluate --json`): the test metrics and, beside them in the same object,
/// how the model came about and, when asked for, the baselines.
public struct MetricsFile: Sendable, Codable, Equatable {
    public var test: TestMetrics
    public var run: RunInfo
    public var baselines: BaselineMetrics?

    public init(test: TestMetrics, run: RunInfo, baselines: BaselineMetrics? = nil) {
        self.test = test
        self.run = run
        self.baselines = baselines
    }

    public init(from decoder: Decoder) throws {
        test = try TestMetrics(from: decoder)
        run = try RunInfo(from: decoder)
        baselines = try? BaselineMetrics(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        try test.encode(to: encoder)
        try run.encode(to: encoder)
        try baselines?.encode(to: encoder)
    }
}

/// Sorted JSON (pretty, or one line), ending in a newline. JSON has no NaN or infinity: such a number is
/// written as the string "nan", "inf" or "-inf" rather than failing the whole file.
public func jsonText<T: Encodable>(_ value: T, pretty: Bool = true) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
    enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try enc.encode(value), as: UTF8.self) + "\n"
}
