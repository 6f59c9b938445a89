import ArgumentParser
import PatchRNN

// The option groups, each declared once and used by the commands that need it.

/// A path given as an empty string names nothing: refused by the parser, naming the flag
/// (not later as "error: : no such file").
func checkPath(_ value: String?, _ flag: String) throws {
    if let value, value.isEmpty { throw ValidationError("\(flag) names no file or folder (an empty string)") }
}

struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Folder with the four MNIST files (.gz or raw).",
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

    @Option(help: ArgumentHelp("With fewer threads than cores: pack (fill one L3 group, NUMA node and package before the next) or spread (round-robin over packages, NUMA nodes and L3 groups).", valueName: "policy"))
    var placement: PlacementPolicy = .pack

    @Flag(help: "Allow more threads than cores (up to 4096), all unpinned: for checking results and plans on a small machine. Speed figures from such a run mean nothing.")
    var oversubscribe = false

    @Flag(help: "No progress output (errors and the final summary only).")
    var quiet = false

    /// The PU indices of --cores, if given.
    func coreList() throws -> [Int]? {
        try cores.map { list -> [Int] in
            guard !list.trimmingCharacters(in: .whitespaces).isEmpty else { throw PatchRNNError.setting(.cores, "names no PU (got '\(list)')") }
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
        let pool = try WorkerPool.make(threads: n, topology: topology, cores: cores.map { Array($0.prefix(n)) }, smt: smt,
                                       policy: placement, oversubscribe: oversubscribe)
        if let w = pool.bindingWarning { reporter.info(w) }
        let whose = group.size > 1 ? "\(group.label): " : ""
        if pool.placement.allSatisfy({ $0 == nil }) {
            reporter.info("\(whose)workers: \(pool.count), unpinned")
        } else {
            reporter.info("\(whose)workers: \(pool.count), pinned to PUs \(pool.boundPUs.map { $0.map(String.init) ?? "-" }.joined(separator: ","))")
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
    @Option(parsing: .unconditional, help: "Sequences per shard: the unit of work a worker takes and of the fixed gradient summation order (default: batch size / 16, within 4...16, so that a batch of 64 keeps 16 workers busy).")
    var shardSize: Int?

    var shape: StepShape { StepShape(batchSize: batchSize ?? TrainingOptions().batchSize, shardSize: shardSize) }
}

/// Which cell (`--cell`): a new model's, or checked against a checkpoint's.
struct CellOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Recurrent cell: \(Cells.names.joined(separator: " or ")) (default \(LSTMCell.name); with a checkpoint, the checkpoint's).", valueName: "cell"))
    var cell: String?

    func resolved() throws -> any RecurrentCell.Type { try Cells.resolve(cell ?? LSTMCell.name) }
}

/// The training settings. Each is optional here, so that a flag the user gave can be told from
/// a default: `--resume` refuses a given flag that contradicts the resumed run.
struct TrainOptions: ParsableArguments {
    @OptionGroup var cellOptions: CellOptions
    @OptionGroup var step: StepOptions
    @Option(parsing: .unconditional, help: "Maximum number of epochs (default \(TrainingOptions().maxEpochs); early stopping usually ends sooner).") var epochs: Int?
    @Option(parsing: .unconditional, help: "Adam learning rate (default 2e-3; with --plain, 1e-3).") var learningRate: Float?
    @Option(parsing: .unconditional, help: "Early stopping: epochs without validation improvement before stopping (default \(TrainingOptions().patience)).") var patience: Int?
    @Option(parsing: .unconditional, help: "Halve the learning rate after this many epochs without validation improvement (default \(TrainingOptions().lrPatience); 0: never).") var lrPatience: Int?
    @Option(parsing: .unconditional, help: "Seed for initial weights, validation split and shuffling (default \(TrainingOptions().seed)).") var seed: UInt64?
    @Option(parsing: .unconditional, help: "Fraction of the training set held out for validation, random and seeded (default \(TrainingOptions().validationFraction)).") var validationFraction: Double?
    @Option(parsing: .unconditional, help: "Hidden size of each recurrent layer (default \(ModelConfig.default.hidden)).") var hidden: Int?
    @Option(parsing: .unconditional, help: "Stacked recurrent layers (default \(ModelConfig.default.layers)).") var layers: Int?
    @Option(parsing: .unconditional, help: "Use only the first N training images (quick runs).") var trainLimit: Int?
    @Option(help: ArgumentHelp("What early stopping, the kept epoch and the learning-rate halving follow: val_bottom (free-running bottom-half MSE on validation images) or val_loss (teacher-forced validation loss). Default: val_bottom; with --plain, val_loss.", valueName: "figure"))
    var monitor: TrainingOptions.Monitor?
    @Option(parsing: .unconditional, help: "The smallest fall of the monitored figure that counts as an improvement (default 0).") var minDelta: Double?
    @Option(parsing: .unconditional, help: ArgumentHelp("Scheduled sampling: the probability, reached after --sampling-ramp epochs, that a bottom-half training input is the model's own prediction (0: teacher forcing). Default: \(TrainingOptions().sampling.maxProbability); with --plain, 0.", valueName: "p"))
    var scheduledSampling: Double?
    @Option(parsing: .unconditional, help: "Epochs over which the scheduled-sampling probability grows linearly from 0 (default \(TrainingOptions().sampling.rampEpochs)).") var samplingRamp: Int?
    @Flag(help: "The task's plain setting: teacher forcing, early stopping on the validation loss, learning rate 1e-3 (other flags still apply on top).")
    var plain = false

    /// The settings of a new run: the defaults (or --plain's), with every given flag applied.
    func options() throws -> TrainingOptions {
        var o = plain ? TrainingOptions.plain : TrainingOptions()
        o.model = ModelConfig(cell: try cellOptions.resolved(), hidden: hidden ?? o.model.hidden, layers: layers ?? o.model.layers)
        if let batchSize = step.batchSize { o.batchSize = batchSize }
        o.shardSize = step.shardSize
        if let epochs { o.maxEpochs = epochs }
        if let learningRate { o.learningRate = learningRate }
        if let patience { o.patience = patience }
        if let lrPatience { o.lrPatience = lrPatience }
        if let seed { o.seed = seed }
        if let validationFraction { o.validationFraction = validationFraction }
        o.trainLimit = trainLimit
        if let monitor { o.monitor = monitor }
        if let minDelta { o.minDelta = minDelta }
        if let scheduledSampling { o.sampling.maxProbability = scheduledSampling }
        if let samplingRamp { o.sampling.rampEpochs = samplingRamp }
        return o
    }

    /// With --resume: the run keeps the settings it started with, so a flag that gives another
    /// value is refused (one that repeats the resumed value is accepted), the same way for every
    /// setting. (--cell is checked when the file is loaded.)
    func checkConsistent(with r: TrainingOptions, file: String) throws {
        func refuse(_ flag: String, _ given: String, _ resumed: String) -> PatchRNNError {
            PatchRNNError("\(flag) \(given) contradicts \(file), whose run has \(resumed) (a resumed run keeps its settings: leave the flag out)")
        }
        func check<T: Equatable>(_ setting: Setting, _ given: T?, _ resumed: T, _ show: (T) -> String = { "\($0)" }) throws {
            guard let given, given != resumed else { return }
            throw refuse(flag(setting), show(given), show(resumed))
        }
        let plainSetting = TrainingOptions.plain
        if plain, (learningRate == nil && r.learningRate != plainSetting.learningRate) || (monitor == nil && r.monitor != plainSetting.monitor)
            || (scheduledSampling == nil && r.sampling.maxProbability != plainSetting.sampling.maxProbability) {
            throw PatchRNNError("--plain contradicts \(file), whose run has learning rate \(r.learningRate), monitor \(r.monitor.rawValue), scheduled sampling \(r.sampling.maxProbability) (a resumed run keeps its settings: leave the flag out)")
        }
        try check(.hidden, hidden, r.model.hidden)
        try check(.layers, layers, r.model.layers)
        try check(.batchSize, step.batchSize, r.batchSize)
        try check(.shardSize, step.shardSize.map { StepShape(batchSize: r.batchSize, shardSize: $0).shardSize }, r.shape.shardSize)
        try check(.epochs, epochs, r.maxEpochs)
        try check(.learningRate, learningRate, r.learningRate)
        try check(.patience, patience, r.patience)
        try check(.lrPatience, lrPatience, r.lrPatience)
        try check(.seed, seed, r.seed)
        try check(.validationFraction, validationFraction, r.validationFraction)
        try check(.trainLimit, trainLimit.map { Optional($0) }, r.trainLimit) { $0.map(String.init) ?? "no limit" }
        try check(.monitor, monitor, r.monitor) { $0.rawValue }
        try check(.minDelta, minDelta, r.minDelta)
        try check(.sampling, scheduledSampling, r.sampling.maxProbability)
        try check(.samplingRamp, samplingRamp, r.sampling.rampEpochs)
    }
}

/// Where a run starts and how often it saves its state (`train` and `run`).
struct RunControlOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Continue a run from its resume.safetensors (written at every epoch's end, every --resume-every minutes, and when a signal stops training). The run keeps the settings it started with: a training option that contradicts them is refused, one that repeats them is accepted; --data, --threads, --cores, --max-steps, --resume-every and --tensorboard may be given anew. A finished run's file is refused: there is nothing to resume.", valueName: "file"))
    var resume: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Also rewrite resume.safetensors every this many minutes within an epoch (it is always written at every epoch's end), for epochs long enough that losing one hurts.", valueName: "minutes"))
    var resumeEvery: Double?

    func validate() throws { try checkPath(resume, "--resume") }
}

/// MPI builds with several ranks.
struct DistributedOptions: ParsableArguments {
    @Option(help: ArgumentHelp("MPI builds, several ranks: how ranks combine gradients: exact (bit-identical to one process, traffic grows with the batch) or allreduce (MPI_Allreduce of each rank's sum, ~2 x 256 KiB per step).", valueName: "mode"))
    var mpiExchange: GradientExchange = .exact
}

extension GradientExchange: ExpressibleByArgument {}
extension TrainingOptions.Monitor: ExpressibleByArgument {}

/// TensorBoard event files (`train` and `run`).
struct TensorBoardOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Also write TensorBoard event files to this folder: per epoch the losses, the validation bottom-half MSE, the learning rate and samples/s; the generated grid; the hyper-parameters. With --resume, give the same folder: the run continues there at the next epoch.", valueName: "dir"))
    var tensorboard: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("With --tensorboard: add the generated 10x10 grid (samples.png of that epoch's weights) every n epochs.", valueName: "n"))
    var tensorboardImagesEvery: Int = TensorBoardSettings.defaultImagesEvery

    func validate() throws { try checkPath(tensorboard, "--tensorboard") }

    var settings: TensorBoardSettings? {
        tensorboard.map { TensorBoardSettings(directory: $0, imagesEvery: tensorboardImagesEvery) }
    }
}
