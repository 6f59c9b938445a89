/// What a training run is asked to do: the settings schema. Every setting is one entry of
/// `fields` (its key, its words, how it reads and writes, its check), and everything that
/// records or checks settings goes through that table: validation, the resume state, the
/// checkpoint metadata, metrics.json, trace.json, TensorBoard's hyper-parameters and the
/// command line (whose flag for the key `batch_size` is `--batch-size`).
///
/// Adding a setting: its property here, its `Setting` and its entry in `fields` (below), its
/// flag in the tool's `TrainOptions` (mapped by name, checked by `SettingFlagsTests`) and a
/// line in docs/usage.md.
public struct TrainingOptions: Sendable, Equatable {
    public var model = ModelConfig.default
    public var batchSize = 64
    /// Sequences per shard: the unit of work and of the fixed gradient summation order; nil:
    /// `StepShape.defaultShardSize` of the batch size.
    public var shardSize: Int?
    public var maxEpochs = 100
    /// Early stopping: epochs without improvement of the monitored figure before stopping.
    public var patience = 5
    /// Halve the learning rate after this many epochs without improvement (ReduceLROnPlateau);
    /// 0 disables.
    public var lrPatience = 2
    /// 2e-3: with the val_bottom monitor and scheduled sampling, 1e-3 stops before the
    /// teacher-forced error has come down (docs/training.md); the plain setting keeps 1e-3.
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
        set {
            batchSize = newValue.batchSize
            shardSize = newValue.shardSize
        }
    }

    /// The largest sizes accepted, far beyond any use and small enough that every buffer size
    /// computed from them fits in an Int (so the memory check can refuse what will not fit).
    public static let limits = (hidden: 65_536, layers: 1_024, batchSize: 1 << 24, epochs: 1_000_000, patience: 1_000_000)

    public var earlyStopping: EarlyStopping { EarlyStopping(patience: patience, minDelta: minDelta) }
    public var learningRateSchedule: PlateauSchedule { PlateauSchedule(patience: lrPatience) }

    /// Checks every setting (each field's own check), before any work starts.
    /// - Throws: `PatchRNNError` naming the first setting out of range (`error.setting`).
    public func validate() throws {
        for field in Self.fields { try field.check(self) }
    }

    /// Also checks the batch against the training set.
    /// - Parameter trainCount: The number of training sequences after the validation split.
    /// - Throws: `PatchRNNError` naming the setting out of range.
    public func validate(trainCount: Int) throws {
        try validate()
        guard trainCount > 0 else {
            throw PatchRNNError.setting(.validationFraction, "\(validationFraction) leaves no training images")
        }
        guard batchSize <= trainCount else {
            throw PatchRNNError.setting(.batchSize, "\(batchSize) is larger than the \(trainCount) training sequences")
        }
    }

    /// `value` must lie in `range`: "must be at least 1 (got -5)" / "must be at most ...".
    public static func check(_ setting: Setting, _ value: Int, _ range: ClosedRange<Int>) throws {
        if value < range.lowerBound {
            throw PatchRNNError.setting(
                setting,
                range.lowerBound == 0 ? "must be 0 (off) or more (got \(value))" : "must be at least \(range.lowerBound) (got \(value))")
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

    /// Every setting by its key, in the order they are shown.
    public var values: [(key: String, value: SettingValue)] { Self.fields.map { ($0.setting.key, $0.read(self)) } }

    /// The field of a key (`batch_size`), if it is one.
    public static func field(_ key: String) -> SettingField? { fields.first { $0.setting.key == key } }

    /// The checkpoint metadata: every setting under its key (as text), the model's shape and
    /// gate order, and where the kept weights come from.
    /// - Parameters:
    ///   - epoch: The epoch whose weights the checkpoint holds.
    ///   - bestValLoss: Its validation loss.
    /// - Returns: Key-value text for a safetensors header's `__metadata__`.
    public func summary(epoch: Int? = nil, bestValLoss: Double? = nil) -> [String: String] {
        var m = [
            "format": "patchrnn-1", "gate_order": model.cell.gateOrder,
            "input_size": "\(model.inputSize)", "output_size": "\(model.outputSize)",
        ]
        for (key, value) in values { m[key] = value.description }
        if let epoch { m["epoch"] = "\(epoch)" }
        if let bestValLoss { m["best_val_loss"] = "\(bestValLoss)" }
        return m
    }

    /// Options are equal when they record the same settings (a default shard size equals the
    /// same size given explicitly: the steps are cut alike) and the same model.
    public static func == (a: TrainingOptions, b: TrainingOptions) -> Bool {
        a.model == b.model && a.values.map(\.value) == b.values.map(\.value)
    }

    /// The settings a checkpoint's metadata records (`summary`), or nil when it lacks any of
    /// them (a checkpoint written before the metadata held them all: `RunInfo` then keeps
    /// those it does record, `SettingField.recorded(in:)`).
    public init?(metadata: [String: String]) {
        var o = TrainingOptions()
        for field in Self.fields {
            guard let value = field.recorded(in: metadata), (try? field.write(&o, value)) != nil else { return nil }
        }
        self = o
    }
}

// MARK: - The fields

extension TrainingOptions {
    /// The schema: every setting, its key and words (`Setting`), how it is read and written,
    /// and its check.
    public static let fields: [SettingField] = [
        SettingField(
            .cell, read: { .word($0.model.cellName) },
            write: { o, v in
                o.model = ModelConfig(cell: try Cells.resolve("\(v)"), hidden: o.model.hidden, layers: o.model.layers)
            }),
        .whole(.hidden, \.model.hidden, 1...limits.hidden),
        .whole(.layers, \.model.layers, 1...limits.layers),
        .whole(.batchSize, \.batchSize, 1...limits.batchSize),
        // The effective shard size (nil means the batch's default), so every file says what ran.
        SettingField(
            .shardSize, read: { .integer($0.shape.shardSize) },
            write: { o, v in o.shardSize = try v.whole(.shardSize) },
            check: { o in if let s = o.shardSize { try check(.shardSize, s, 1...Int.max) } }),
        .whole(.epochs, \.maxEpochs, 1...limits.epochs),
        // Recorded as the shortest decimal of the Float (2e-3 as 0.002) and read back from that
        // text, so a round trip gives the same Float.
        SettingField(
            .learningRate, read: { .real($0.learningRate.decimal) },
            write: { o, v in
                guard let x = v.real, let f = Float("\(x)") else {
                    throw PatchRNNError.setting(.learningRate, "must be a number (got \(v))")
                }
                o.learningRate = f
            },
            check: { o in
                guard o.learningRate.isFinite, o.learningRate > 0 else {
                    throw PatchRNNError.setting(.learningRate, "must be a positive number (got \(o.learningRate))")
                }
            }),
        .whole(.patience, \.patience, 1...limits.patience),
        .whole(.lrPatience, \.lrPatience, 0...limits.patience),
        // A seed above Int.max is recorded as a word (JSON's integers stop at 2^63 in most readers).
        SettingField(
            .seed, read: { Int(exactly: $0.seed).map(SettingValue.integer) ?? .word("\($0.seed)") },
            write: { o, v in
                switch v {
                case .integer(let i) where i >= 0: o.seed = UInt64(i)
                case .word(let w) where UInt64(w) != nil: o.seed = UInt64(w)!
                default: throw PatchRNNError.setting(.seed, "must be a whole number from 0 to \(UInt64.max) (got \(v))")
                }
            }),
        .real(.validationFraction, \.validationFraction, "must be between 0 and 1") { $0 > 0 && $0 < 1 },
        SettingField(
            .trainLimit, read: { $0.trainLimit.map(SettingValue.integer) ?? .absent },
            write: { o, v in o.trainLimit = try v.whole(.trainLimit) },
            check: { o in if let n = o.trainLimit { try check(.trainLimit, n, 2...Int.max) } }),
        SettingField(
            .monitor, read: { .word($0.monitor.rawValue) },
            write: { o, v in
                guard case .word(let w) = v, let m = Monitor(rawValue: w) else {
                    throw PatchRNNError.setting(
                        .monitor, "must be \(Monitor.allCases.map(\.rawValue).joined(separator: " or ")) (got \(v))")
                }
                o.monitor = m
            }),
        .real(.minDelta, \.minDelta, "must be 0 or more and below 1") { $0 >= 0 && $0 < 1 },
        .real(.scheduledSampling, \.sampling.maxProbability, "must be a probability from 0 to 1") { $0 >= 0 && $0 <= 1 },
        .whole(.samplingRamp, \.sampling.rampEpochs, 1...limits.epochs).formerly("sampling_ramp_epochs"),
    ]
}

/// The training settings: the key each is recorded under and its words in messages.
extension Setting {
    public static let cell = Setting("cell", "the cell")
    public static let hidden = Setting("hidden", "the hidden size")
    public static let layers = Setting("layers", "the number of layers")
    public static let batchSize = Setting("batch_size", "the batch size")
    public static let shardSize = Setting("shard_size", "the shard size")
    public static let epochs = Setting("epochs", "the maximum number of epochs")
    public static let learningRate = Setting("learning_rate", "the learning rate")
    public static let patience = Setting("patience", "the patience")
    public static let lrPatience = Setting("lr_patience", "the learning-rate patience")
    public static let seed = Setting("seed", "the seed")
    public static let validationFraction = Setting("validation_fraction", "the validation fraction")
    public static let trainLimit = Setting("train_limit", "the training-image limit")
    public static let monitor = Setting("monitor", "the monitor")
    public static let minDelta = Setting("min_delta", "the minimum improvement")
    public static let scheduledSampling = Setting("scheduled_sampling", "the scheduled-sampling probability")
    public static let samplingRamp = Setting("sampling_ramp", "the scheduled-sampling ramp")
}

/// One setting in the schema (`TrainingOptions.fields`).
public struct SettingField: Sendable {
    /// Its key (the one spelling in every file; the flag is the key with dashes) and its words.
    public let setting: Setting
    /// The setting's value in a run's options.
    public let read: @Sendable (TrainingOptions) -> SettingValue
    /// Sets the setting; throws when the value is not of its kind (a word for a number). The
    /// range is `check`'s.
    public let write: @Sendable (inout TrainingOptions, SettingValue) throws -> Void
    /// Throws when the options' value is out of range.
    public let check: @Sendable (TrainingOptions) throws -> Void
    /// What a resume state written before this setting existed means (the behaviour runs had
    /// then), so that it still resumes; nil: every file records it. A setting added later
    /// must give one.
    public let whenMissing: SettingValue?
    /// Keys this setting was recorded under in older checkpoint metadata.
    public let formerKeys: [String]

    public init(
        _ setting: Setting, read: @escaping @Sendable (TrainingOptions) -> SettingValue,
        write: @escaping @Sendable (inout TrainingOptions, SettingValue) throws -> Void,
        check: @escaping @Sendable (TrainingOptions) throws -> Void = { _ in },
        whenMissing: SettingValue? = nil, formerKeys: [String] = []
    ) {
        self.setting = setting
        self.read = read
        self.write = write
        self.check = check
        self.whenMissing = whenMissing
        self.formerKeys = formerKeys
    }

    /// The same field, also read under `keys` from older checkpoint metadata.
    func formerly(_ keys: String...) -> SettingField {
        SettingField(setting, read: read, write: write, check: check, whenMissing: whenMissing, formerKeys: formerKeys + keys)
    }

    /// The value `metadata` (a checkpoint's, as text) records for this setting, if it records
    /// one that this setting accepts.
    public func recorded(in metadata: [String: String]) -> SettingValue? {
        for key in [setting.key] + formerKeys {
            guard let text = metadata[key] else { continue }
            let value = SettingValue(text: text)
            var scratch = TrainingOptions()
            guard (try? write(&scratch, value)) != nil, (try? check(scratch)) != nil else { return nil }
            return read(scratch)
        }
        return nil
    }

    /// A whole number within `range`.
    static func whole(_ s: Setting, _ path: WritableKeyPath<TrainingOptions, Int> & Sendable, _ range: ClosedRange<Int>) -> SettingField {
        SettingField(
            s, read: { .integer($0[keyPath: path]) },
            write: { o, v in
                guard let i = try v.whole(s) else { throw PatchRNNError.setting(s, "must be a whole number (got none)") }
                o[keyPath: path] = i
            },
            check: { o in try TrainingOptions.check(s, o[keyPath: path], range) })
    }

    /// A finite real number for which `valid` holds, else "<problem> (got x)".
    static func real(
        _ s: Setting, _ path: WritableKeyPath<TrainingOptions, Double> & Sendable, _ problem: String,
        _ valid: @escaping @Sendable (Double) -> Bool
    ) -> SettingField {
        SettingField(
            s, read: { .real($0[keyPath: path]) },
            write: { o, v in
                guard let x = v.real else { throw PatchRNNError.setting(s, "must be a number (got \(v))") }
                o[keyPath: path] = x
            },
            check: { o in
                let x = o[keyPath: path]
                guard x.isFinite, valid(x) else { throw PatchRNNError.setting(s, "\(problem) (got \(x))") }
            })
    }
}

extension SettingValue {
    /// A whole number, or nil for `.absent`; throws for anything else.
    func whole(_ s: Setting) throws -> Int? {
        if self == .absent { return nil }
        guard let i = integer else { throw PatchRNNError.setting(s, "must be a whole number (got \(self))") }
        return i
    }
}

// MARK: - Files

extension TrainingOptions: Codable {

    /// One flat object of every setting under its key. Resume states written before the schema
    /// (camel-case keys, the model nested) still read (`LegacyTrainingOptions`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: SettingKey.self)
        if c.contains(SettingKey("model")) {
            self = try LegacyTrainingOptions(from: decoder).options
            return
        }
        self.init()
        for field in Self.fields {
            let key = SettingKey(field.setting.key)
            guard c.contains(key) || field.whenMissing == nil else {
                try field.write(&self, field.whenMissing!)
                continue
            }
            let value = try c.decode(SettingValue.self, forKey: key)
            do { try field.write(&self, value) } catch {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(error)")
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: SettingKey.self)
        for (key, value) in values { try c.encode(value, forKey: SettingKey(key)) }
    }
}

/// The resume state's options as written before the settings schema: camel-case keys, the
/// model nested. Settings that did not exist yet read as their old behaviour (validation
/// loss, no min-delta, teacher forcing), so such a run continues as it started.
private struct LegacyTrainingOptions: Decodable {
    var options = TrainingOptions()

    enum CodingKeys: String, CodingKey {
        case model, batchSize, shardSize, maxEpochs, patience, lrPatience, learningRate, seed, validationFraction, trainLimit
        case monitor, minDelta, sampling
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        options.model = try c.decode(ModelConfig.self, forKey: .model)
        options.batchSize = try c.decode(Int.self, forKey: .batchSize)
        options.shardSize = try c.decodeIfPresent(Int.self, forKey: .shardSize)
        options.maxEpochs = try c.decode(Int.self, forKey: .maxEpochs)
        options.patience = try c.decode(Int.self, forKey: .patience)
        options.lrPatience = try c.decode(Int.self, forKey: .lrPatience)
        options.learningRate = try c.decode(Float.self, forKey: .learningRate)
        options.seed = try c.decode(UInt64.self, forKey: .seed)
        options.validationFraction = try c.decode(Double.self, forKey: .validationFraction)
        options.trainLimit = try c.decodeIfPresent(Int.self, forKey: .trainLimit)
        options.monitor = try c.decodeIfPresent(TrainingOptions.Monitor.self, forKey: .monitor) ?? .valLoss
        options.minDelta = try c.decodeIfPresent(Double.self, forKey: .minDelta) ?? 0
        options.sampling = try c.decodeIfPresent(ScheduledSampling.self, forKey: .sampling) ?? ScheduledSampling()
    }
}
