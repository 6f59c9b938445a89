import ArgumentParser
import PatchRNN

// The option groups, each declared once and used by the commands that need it.

struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Folder with the four MNIST files (.gz or raw).",
                               discussion: "Default: $PATCHRNN_DATA, else ./data/mnist, else ../shared/data/mnist."))
    var data: String?
}

struct OutputOptions: ParsableArguments {
    @Option(help: "Folder for everything written (created if missing).")
    var out: String = "runs/latest"

    func path(_ name: String) -> String { out + "/" + name }
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
            try list.split(separator: ",").map {
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
    @Option(parsing: .unconditional, help: "Minibatch size.") var batchSize: Int = 64
    @Option(parsing: .unconditional, help: "Sequences per shard: the unit of work a worker takes and of the fixed gradient summation order (default: batch size / 16, within 4...16, so that a batch of 64 keeps 16 workers busy).")
    var shardSize: Int?

    var shape: StepShape { StepShape(batchSize: batchSize, shardSize: shardSize) }
}

/// Which cell (`--cell`): a new model's, or checked against a checkpoint's.
struct CellOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Recurrent cell: \(Cells.names.joined(separator: " or ")) (default \(LSTMCell.name); with a checkpoint, the checkpoint's).", valueName: "cell"))
    var cell: String?

    func resolved() throws -> any RecurrentCell.Type { try Cells.resolve(cell ?? LSTMCell.name) }
}

struct TrainOptions: ParsableArguments {
    @OptionGroup var cellOptions: CellOptions
    @OptionGroup var step: StepOptions
    @Option(parsing: .unconditional, help: "Maximum number of epochs (early stopping usually ends sooner).") var epochs: Int = 100
    @Option(parsing: .unconditional, help: "Adam learning rate (default 2e-3; with --plain, 1e-3).") var learningRate: Float?
    @Option(parsing: .unconditional, help: "Early stopping: epochs without validation improvement before stopping.") var patience: Int = 5
    @Option(parsing: .unconditional, help: "Halve the learning rate after this many epochs without validation improvement (0: never).") var lrPatience: Int = 2
    @Option(parsing: .unconditional, help: "Seed for initial weights, validation split and shuffling.") var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Fraction of the training set held out for validation (random, seeded).") var validationFraction: Double = 0.1
    @Option(parsing: .unconditional, help: "Hidden size of each recurrent layer.") var hidden: Int = 64
    @Option(parsing: .unconditional, help: "Stacked recurrent layers.") var layers: Int = 2
    @Option(parsing: .unconditional, help: "Use only the first N training images (quick runs).") var trainLimit: Int?
    @Option(help: ArgumentHelp("What early stopping, the kept epoch and the learning-rate halving follow: val_bottom (free-running bottom-half MSE on validation images) or val_loss (teacher-forced validation loss). Default: val_bottom; with --plain, val_loss.", valueName: "figure"))
    var monitor: TrainingOptions.Monitor?
    @Option(parsing: .unconditional, help: "The smallest fall of the monitored figure that counts as an improvement.") var minDelta: Double = 0
    @Option(parsing: .unconditional, help: ArgumentHelp("Scheduled sampling: the probability, reached after --sampling-ramp epochs, that a bottom-half training input is the model's own prediction (0: teacher forcing). Default: \(TrainingOptions().sampling.maxProbability); with --plain, 0.", valueName: "p"))
    var scheduledSampling: Double?
    @Option(parsing: .unconditional, help: "Epochs over which the scheduled-sampling probability grows linearly from 0.") var samplingRamp: Int = TrainingOptions().sampling.rampEpochs
    @Flag(help: "The task's plain setting: teacher forcing, early stopping on the validation loss, learning rate 1e-3 (other flags still apply on top).")
    var plain = false

    func options() throws -> TrainingOptions {
        var o = plain ? TrainingOptions.plain : TrainingOptions()
        o.model = ModelConfig(cell: try cellOptions.resolved(), hidden: hidden, layers: layers)
        o.shape = step.shape
        o.maxEpochs = epochs
        if let learningRate { o.learningRate = learningRate }
        o.patience = patience
        o.lrPatience = lrPatience
        o.seed = seed
        o.validationFraction = validationFraction
        o.trainLimit = trainLimit
        if let monitor { o.monitor = monitor }
        o.minDelta = minDelta
        if let scheduledSampling { o.sampling.maxProbability = scheduledSampling }
        o.sampling.rampEpochs = samplingRamp
        return o
    }
}

/// Where a run starts (`train` and `run`).
struct RunControlOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Continue an interrupted run from its resume.safetensors (its settings are used).", valueName: "file"))
    var resume: String?
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

    var settings: TensorBoardSettings? {
        tensorboard.map { TensorBoardSettings(directory: $0, imagesEvery: tensorboardImagesEvery) }
    }
}
