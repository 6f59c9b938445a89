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
/// (`generate`, `report`). In metrics.json it is flat, beside the test metrics: the settings
/// under the schema's keys (`TrainingOptions.fields`), then how training ended. What is
/// unknown is left out of the file.
public struct RunInfo: Sendable, Codable, Equatable {
    /// The run's settings by key: all of them for a run (`TrainingOptions.values`), those its
    /// metadata records for a checkpoint (fewer for one written before they were all recorded).
    public var settings: [String: SettingValue] = [:]
    public var epochsTrained: Int?
    public var bestEpoch: Int?
    /// The validation loss of the kept epoch.
    public var bestValLoss: Double?
    /// The monitored figure (`settings["monitor"]`) at the kept epoch.
    public var bestMonitored: Double?
    public var trainSeconds: Double?
    public var stoppedEarly: Bool?
    public var threads: Int?
    public var processes: Int?
    public var checkpoint: String?

    public init() {}

    /// A training run (its effective settings: a resumed run's come from its resume state).
    public init(options: TrainingOptions, result r: TrainingResult, threads: Int, processes: Int) {
        record(options)
        epochsTrained = r.history.count
        bestEpoch = r.bestEpoch
        bestValLoss = r.bestValLoss
        bestMonitored = r.bestMonitored
        trainSeconds = r.trainSeconds
        stoppedEarly = r.stoppedEarly
        self.threads = threads
        self.processes = processes
    }

    /// Records every setting of `options`.
    public mutating func record(_ options: TrainingOptions) {
        for (key, value) in options.values { settings[key] = value }
    }

    /// Records the model's shape (the truth of a checkpoint's tensors).
    public mutating func record(_ model: ModelConfig) {
        settings[Setting.cell.key] = .word(model.cellName)
        settings[Setting.hidden.key] = .integer(model.hidden)
        settings[Setting.layers.key] = .integer(model.layers)
    }

    /// The monitored figure, when the settings record it.
    public var monitor: TrainingOptions.Monitor? {
        if case .word(let w) = settings[Setting.monitor.key] { return TrainingOptions.Monitor(rawValue: w) }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case threads, processes, checkpoint
        case epochsTrained = "epochs_trained"
        case bestEpoch = "best_epoch"
        case bestValLoss = "best_val_loss"
        case bestMonitored = "best_monitored"
        case trainSeconds = "train_seconds"
        case stoppedEarly = "stopped_early"
    }

    public init(from decoder: any Decoder) throws {
        let keyed = try decoder.container(keyedBy: SettingKey.self)
        for field in TrainingOptions.fields where keyed.contains(SettingKey(field.setting.key)) {
            settings[field.setting.key] = try keyed.decode(SettingValue.self, forKey: SettingKey(field.setting.key))
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
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
        var keyed = encoder.container(keyedBy: SettingKey.self)
        for (key, value) in settings { try keyed.encode(value, forKey: SettingKey(key)) }
        var c = encoder.container(keyedBy: CodingKeys.self)
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
