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
/// (`generate`, `report`). In metrics.json it is flat, beside the test metrics: every setting
/// under the schema's key (`TrainingOptions.fields`), then how training ended. What is unknown
/// is left out of the file.
public struct RunInfo: Sendable, Codable, Equatable {
    /// The run's settings (nil: unknown, as for a checkpoint whose metadata predates them).
    public var settings: TrainingOptions?
    /// The model's shape, recorded (as `cell`, `hidden`, `layers`) when the settings are unknown.
    public var model: ModelConfig?
    public var epochsTrained: Int?
    public var bestEpoch: Int?
    /// The validation loss of the kept epoch.
    public var bestValLoss: Double?
    /// The monitored figure (`settings.monitor`) at the kept epoch.
    public var bestMonitored: Double?
    public var trainSeconds: Double?
    public var stoppedEarly: Bool?
    public var threads: Int?
    public var processes: Int?
    public var checkpoint: String?

    public init() {}

    /// A training run (its effective settings: a resumed run's come from its resume state).
    public init(options: TrainingOptions, result r: TrainingResult, threads: Int, processes: Int) {
        settings = options
        epochsTrained = r.history.count
        bestEpoch = r.bestEpoch
        bestValLoss = r.bestValLoss
        bestMonitored = r.bestMonitored
        trainSeconds = r.trainSeconds
        stoppedEarly = r.stoppedEarly
        self.threads = threads
        self.processes = processes
    }

    enum CodingKeys: String, CodingKey {
        case cell, hidden, layers, threads, processes, checkpoint
        case epochsTrained = "epochs_trained", bestEpoch = "best_epoch", bestValLoss = "best_val_loss"
        case bestMonitored = "best_monitored", trainSeconds = "train_seconds", stoppedEarly = "stopped_early"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        settings = try? TrainingOptions(from: decoder)
        if settings == nil, let name = try c.decodeIfPresent(String.self, forKey: .cell), let cell = Cells.named(name),
           let hidden = try c.decodeIfPresent(Int.self, forKey: .hidden), let layers = try c.decodeIfPresent(Int.self, forKey: .layers) {
            model = ModelConfig(cell: cell, hidden: hidden, layers: layers)
        }
        epochsTrained = try c.decodeIfPresent(Int.self, forKey: .epochsTrained)
        bestEpoch = try c.decodeIfPresent(Int.self, forKey: .bestEpoch)
        bestValLoss = try c.decodeIfPresent(Double.self, forKey: .bestValLoss)
        bestMonitored = try c.decodeIfPresent(Double.self, forKey: .bestMonitored)
        trainSeconds = try c.decodeIfPresent(Double.self, forKey: .trainSeconds)
        stoppedEarly = try c.decodeIfPresent(Bool.self, forKey: .stoppedEarly)
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        processes = try c.decodeIfPresent(Int.self, forKey: .processes)
        checkpoint = try c.decodeIfPresent(String.self, forKey: .checkpoint)
    }

    public func encode(to encoder: any Encoder) throws {
        if let settings {
            try settings.encode(to: encoder)
        }
        var c = encoder.container(keyedBy: CodingKeys.self)
        if settings == nil, let model {
            try c.encode(model.cellName, forKey: .cell)
            try c.encode(model.hidden, forKey: .hidden)
            try c.encode(model.layers, forKey: .layers)
        }
        try c.encodeIfPresent(epochsTrained, forKey: .epochsTrained)
        try c.encodeIfPresent(bestEpoch, forKey: .bestEpoch)
        try c.encodeIfPresent(bestValLoss, forKey: .bestValLoss)
        try c.encodeIfPresent(bestMonitored, forKey: .bestMonitored)
        try c.encodeIfPresent(trainSeconds, forKey: .trainSeconds)
        try c.encodeIfPresent(stoppedEarly, forKey: .stoppedEarly)
        try c.encodeIfPresent(threads, forKey: .threads)
        try c.encodeIfPresent(processes, forKey: .processes)
        try c.encodeIfPresent(checkpoint, forKey: .checkpoint)
    }
}

/// metrics.json (and `evaluate --json`): the test metrics and, beside them in the same object,
/// how the model came about and, when asked for, the baselines.
package struct MetricsFile: Sendable, Codable, Equatable {
    package var test: TestMetrics
    package var run: RunInfo
    package var baselines: BaselineMetrics?

    package init(test: TestMetrics, run: RunInfo, baselines: BaselineMetrics? = nil) {
        self.test = test
        self.run = run
        self.baselines = baselines
    }

    package init(from decoder: Decoder) throws {
        test = try TestMetrics(from: decoder)
        run = try RunInfo(from: decoder)
        baselines = try? BaselineMetrics(from: decoder)
    }

    package func encode(to encoder: Encoder) throws {
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
