import ArgumentParser
import PatchRNN

// The option groups, each declared once and used by the commands that need it.

/// A path given as an empty string names nothing: refused by the parser, naming the flag
/// (not later as "error: : no such file").
func checkPath(_ value: String?, _ flag: String) throws {
    if let value, value.isEmpty { throw ValidationError("\(flag) names no file or folder (an empty string)") }
}

struct DataOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Folder with the four MNIST files (.gz or raw).",
            discussion: "Default: $PATCHRNN_DATA, else ./data/mnist, else ../shared/data/mnist."))
    var data: String?

    func validate() throws { try checkPath(data, "--data") }
}

struct OutputOptions: ParsableArguments {
    @Option(help: "Folder for everything written (created if missing).")
    var out: String = "runs/latest"

    func path(_ name: String) -> String { out + "/" + name }

    func validate() throws { try checkPath(out, "--out") }
}

/// The worker threads: how many and where.
struct PoolOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Worker threads, one per physical core (default: all cores hwloc reports).")
    var threads: Int?

    @Option(help: ArgumentHelp("Comma-separated PU (OS) indices to pin the workers to, one per thread.", valueName: "list"))
    var cores: String?

    @Flag(help: "Allow SMT siblings once every physical core has a worker.")
    var smt = false

    @Option(
        help: ArgumentHelp(
            "With fewer threads than cores: pack (fill one L3 group, NUMA node and package before the next) or spread (round-robin over packages, NUMA nodes and L3 groups).",
            valueName: "policy"))
    var placement: PlacementPolicy = .pack

    @Flag(
        help:
            "Allow more threads than cores (up to 4096), all unpinned: for checking results and plans on a small machine. Speed figures from such a run mean nothing."
    )
    var oversubscribe = false

    @Flag(help: "No progress output (errors and the final summary only).")
    var quiet = false

    /// The PU indices of --cores, if given.
    func coreList() throws -> [Int]? {
        try cores.map { list -> [Int] in
            guard !list.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw PatchRNNError.setting(.cores, "names no PU (got '\(list)')")
            }
            return try list.split(separator: ",", omittingEmptySubsequences: false).map {
                guard let v = Int($0.trimmingCharacters(in: .whitespaces)) else {
                    throw PatchRNNError.setting(.cores, "names '\($0)', which is not a PU index")
                }
                return v
            }
        }
    }

    /// The pool these options ask for; `threads` overrides --threads (bench --scaling's
    /// smaller pools, placed by the same rules).
    func makePool(reporter: ProgressReporter, group: ProcessGroup = SingleProcess(), threads count: Int? = nil) throws -> WorkerPool {
        let topology: Topology?
        do { topology = try Topology() } catch {
            reporter.info("warning: \(error); running unpinned")
            topology = nil
        }
        let cores = try coreList()
        let n = count ?? threads ?? cores?.count ?? topology?.cores.count ?? 1
        // A smaller pool of --cores takes the first of its PUs.
        let pool = try WorkerPool.make(
            threads: n, topology: topology, cores: cores.map { Array($0.prefix(n)) }, smt: smt,
            policy: placement, oversubscribe: oversubscribe)
        if let w = pool.bindingWarning { reporter.info(w) }
        let whose = group.size > 1 ? "\(group.label): " : ""
        if pool.placement.allSatisfy({ $0 == nil }) {
            reporter.info("\(whose)workers: \(pool.count), unpinned")
        } else {
            reporter.info(
                "\(whose)workers: \(pool.count), pinned to PUs \(pool.boundPUs.map { $0.map(String.init) ?? "-" }.joined(separator: ","))")
        }
        if pool.isOversubscribed { reporter.info(Self.oversubscribedWarning(pool)) }
        return pool
    }

    static func oversubscribedWarning(_ pool: WorkerPool) -> String {
        "warning: oversubscribed: \(pool.count) workers on \(WorkerPool.availableCPUs) CPU(s); results are exact, but speed figures from this run mean nothing"
    }
}

extension PlacementPolicy: ExpressibleByArgument {}

/// How a training step is cut (`StepShape`): what fixes the numerics besides the seed.
struct StepOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Minibatch size (default \(TrainingOptions().batchSize)).") var batchSize: Int?
    @Option(
        parsing: .unconditional,
        help:
            "Sequences per shard: the unit of work a worker takes and of the fixed gradient summation order (default: batch size / 16, within 4...16, so that a batch of 64 keeps 16 workers busy)."
    )
    var shardSize: Int?

    var shape: StepShape { StepShape(batchSize: batchSize ?? TrainingOptions().batchSize, shardSize: shardSize) }
}

/// Which cell (`--cell`): a new model's, or checked against a checkpoint's.
struct CellOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Recurrent cell: \(Cells.names.joined(separator: " or ")) (default \(LSTMCell.name); with a checkpoint, the checkpoint's).",
            valueName: "cell"))
    var cell: String?

    func resolved() throws -> any RecurrentCell.Type { try Cells.resolve(cell ?? LSTMCell.name) }
}

/// The training settings. Each is optional here, so that a flag the user gave can be told from
/// a default: `--resume` refuses a given flag that contradicts the resumed run.
struct TrainOptions: ParsableArguments {
    @OptionGroup var cellOptions: CellOptions
    @OptionGroup var step: StepOptions
    @Option(
        parsing: .unconditional,
        help: "Maximum number of epochs (default \(TrainingOptions().maxEpochs); early stopping usually ends sooner).") var epochs: Int?
    @Option(parsing: .unconditional, help: "Adam learning rate (default 2e-3; with --plain, 1e-3).") var learningRate: Float?
    @Option(
        parsing: .unconditional,
        help: "Early stopping: epochs without validation improvement before stopping (default \(TrainingOptions().patience)).")
    var patience: Int?
    @Option(
        parsing: .unconditional,
        help:
            "Halve the learning rate after this many epochs without validation improvement (default \(TrainingOptions().lrPatience); 0: never)."
    ) var lrPatience: Int?
    @Option(parsing: .unconditional, help: "Seed for initial weights, validation split and shuffling (default \(TrainingOptions().seed)).")
    var seed: UInt64?
    @Option(
        parsing: .unconditional,
        help: "Fraction of the training set held out for validation, random and seeded (default \(TrainingOptions().validationFraction)).")
    var validationFraction: Double?
    @Option(parsing: .unconditional, help: "Hidden size of each recurrent layer (default \(ModelConfig.default.hidden)).") var hidden: Int?
    @Option(parsing: .unconditional, help: "Stacked recurrent layers (default \(ModelConfig.default.layers)).") var layers: Int?
    @Option(parsing: .unconditional, help: "Use only the first N training images (quick runs).") var trainLimit: Int?
    @Option(
        help: ArgumentHelp(
            "What early stopping, the kept epoch and the learning-rate halving follow: val_bottom (free-running bottom-half MSE on validation images) or val_loss (teacher-forced validation loss). Default: val_bottom; with --plain, val_loss.",
            valueName: "figure"))
    var monitor: TrainingOptions.Monitor?
    @Option(parsing: .unconditional, help: "The smallest fall of the monitored figure that counts as an improvement (default 0).")
    var minDelta: Double?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Scheduled sampling: the probability, reached after --sampling-ramp epochs, that a bottom-half training input is the model's own prediction (0: teacher forcing). Default: \(TrainingOptions().sampling.maxProbability); with --plain, 0.",
            valueName: "p"))
    var scheduledSampling: Double?
    @Option(
        parsing: .unconditional,
        help:
            "Epochs over which the scheduled-sampling probability grows linearly from 0 (default \(TrainingOptions().sampling.rampEpochs))."
    ) var samplingRamp: Int?
    @Flag(
        help:
            "The task's plain setting: teacher forcing, early stopping on the validation loss, learning rate 1e-3 (other flags still apply on top)."
    )
    var plain = false

    /// The settings of a new run, checked: the defaults (or --plain's) with every given flag
    /// applied through the settings schema (`TrainingOptions.fields`).
    func options() throws -> TrainingOptions {
        var o = plain ? TrainingOptions.plain : TrainingOptions()
        for (field, value) in try givenSettings() { try field.write(&o, value) }
        try o.validate()
        return o
    }

    /// The settings given as flags, each with its field: a property's name is its key in camel
    /// case (`batchSize` is `batch_size`, given as `--batch-size`). `SettingFlagsTests` checks
    /// that every property is a field and every field a property.
    func givenSettings() throws -> [(SettingField, SettingValue)] {
        try Self.flagValues(self).compactMap { name, value in
            guard let value else { return nil }
            let key = snakeCase(name)
            guard let field = TrainingOptions.field(key) else {
                throw PatchRNNError("internal: \(Setting(key, key).flag) is no training setting")
            }
            return (field, value)
        }
    }

    /// Every flag of these options by property name (groups included, --plain excluded), with
    /// its value when given.
    static func flagValues(_ options: Any) -> [(name: String, value: SettingValue?)] {
        Mirror(reflecting: options).children.flatMap { child -> [(name: String, value: SettingValue?)] in
            let name = String((child.label ?? "").drop { $0 == "_" })
            if let group = child.value as? any OptionGroupValue { return flagValues(group.groupValue) }
            guard name != "plain", let option = child.value as? any OptionValue else { return [] }
            return [(name, option.settingValue)]
        }
    }

    /// With --resume: the run keeps the settings it started with, so a flag that gives another
    /// value is refused (one that repeats the resumed value is accepted), the same way for every
    /// setting, and so is --plain where the resumed run differs from it in what the flags left.
    func checkConsistent(with resumed: TrainingOptions, file: String) throws {
        func refuse(_ flag: String, _ given: String, _ theirs: String) -> PatchRNNError {
            PatchRNNError(
                "\(flag)\(given.isEmpty ? "" : " " + given) contradicts \(file), whose run has \(theirs) (a resumed run keeps its settings: leave the flag out)"
            )
        }
        let given = try givenSettings()
        for (field, value) in given {
            var asked = resumed
            try field.write(&asked, value)
            if field.read(asked) != field.read(resumed) { throw refuse(field.setting.flag, "\(value)", "\(field.read(resumed))") }
        }
        if plain {
            let plainSetting = TrainingOptions.plain, defaults = TrainingOptions()
            let differing = TrainingOptions.fields.filter { f in
                f.read(plainSetting) != f.read(defaults) && !given.contains { $0.0.setting == f.setting }
                    && f.read(plainSetting) != f.read(resumed)
            }
            if !differing.isEmpty {
                throw refuse("--plain", "", differing.map { "\($0.setting.key) \($0.read(resumed))" }.joined(separator: ", "))
            }
        }
    }
}

/// `batchSize` as `batch_size`.
func snakeCase(_ name: String) -> String {
    name.reduce(into: "") { out, ch in
        if ch.isUppercase { out += "_" + ch.lowercased() } else { out.append(ch) }
    }
}

/// An `@Option`'s value as a setting's (nil: not given), for `TrainOptions.flagValues`.
protocol OptionValue { var settingValue: SettingValue? { get } }
extension Option: OptionValue {
    // An optional that was not given casts to nothing; a given one unwraps. A given value of a
    // type the schema cannot record is a programming error, not a flag to drop.
    var settingValue: SettingValue? {
        if let given = wrappedValue as Any as? any SettingConvertible { return given.settingValue }
        let value = Mirror(reflecting: wrappedValue)
        precondition(value.displayStyle == .optional && value.children.isEmpty, "\(Value.self) is not SettingConvertible")
        return nil
    }
}

/// An `@OptionGroup`'s options, for `TrainOptions.flagValues`.
protocol OptionGroupValue { var groupValue: Any { get } }
extension OptionGroup: OptionGroupValue { var groupValue: Any { wrappedValue } }

/// A flag's value type, as the settings schema records it.
protocol SettingConvertible { var settingValue: SettingValue { get } }
extension Int: SettingConvertible { var settingValue: SettingValue { .integer(self) } }
extension Double: SettingConvertible { var settingValue: SettingValue { .real(self) } }
extension Float: SettingConvertible { var settingValue: SettingValue { .real(decimal) } }
extension String: SettingConvertible { var settingValue: SettingValue { .word(self) } }
extension UInt64: SettingConvertible { var settingValue: SettingValue { Int(exactly: self).map(SettingValue.integer) ?? .word("\(self)") } }
extension TrainingOptions.Monitor: SettingConvertible { var settingValue: SettingValue { .word(rawValue) } }

/// Where a run starts and how often it saves its state (`train` and `run`).
struct RunControlOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Continue a run from its resume.safetensors (written at every epoch's end, every --resume-every minutes, and when a signal stops training). The run keeps the settings it started with: a training option that contradicts them is refused, one that repeats them is accepted; --data, --threads, --cores, --max-steps, --resume-every and --tensorboard may be given anew. A finished run's file is refused: there is nothing to resume.",
            valueName: "file"))
    var resume: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Also rewrite resume.safetensors every this many minutes within an epoch (it is always written at every epoch's end), for epochs long enough that losing one hurts.",
            valueName: "minutes"))
    var resumeEvery: Double?

    func validate() throws { try checkPath(resume, "--resume") }
}

/// MPI builds with several ranks.
struct DistributedOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "MPI builds, several ranks: how ranks combine gradients: exact (bit-identical to one process, traffic grows with the batch) or allreduce (MPI_Allreduce of each rank's sum, ~2 x 256 KiB per step).",
            valueName: "mode"))
    var mpiExchange: GradientExchange = .exact
}

extension GradientExchange: ExpressibleByArgument {}
extension TrainingOptions.Monitor: ExpressibleByArgument {}

/// TensorBoard event files (`train` and `run`).
struct TensorBoardOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Also write TensorBoard event files to this folder: per epoch the losses, the validation bottom-half MSE, the learning rate and samples/s; the generated grid; the hyper-parameters. With --resume, give the same folder: the run continues there at the next epoch.",
            valueName: "dir"))
    var tensorboard: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "With --tensorboard: add the generated 10x10 grid (samples.png of that epoch's weights) every n epochs.", valueName: "n"))
    var tensorboardImagesEvery: Int = TensorBoardSettings.defaultImagesEvery

    func validate() throws { try checkPath(tensorboard, "--tensorboard") }

    /// The settings, checked (the interval is checked even without --tensorboard).
    func settings() throws -> TensorBoardSettings? {
        let checked = try TensorBoardSettings(directory: tensorboard ?? "", imagesEvery: tensorboardImagesEvery)
        return tensorboard.map { _ in checked }
    }
}
