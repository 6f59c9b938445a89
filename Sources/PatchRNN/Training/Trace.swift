/// `patchrnn trace`: the first Adam steps of a run, recorded for a side-by-side check with
/// another framework (scripts/compare/compare_pytorch.py replays them in PyTorch).
public enum Trace {
    /// trace.json.
    public struct File: Codable, Sendable {
        public var cell: String
        public var batchSize: Int
        public var seed: UInt64
        public var learningRate: Double
        public var hidden: Int
        public var layers: Int
        public var threads: Int
        public var steps: Int
        /// Training-set indices of every minibatch, in the order the steps used them.
        public var batches: [[Int]]
        /// The loss of each step, before its update.
        public var losses: [Double]

        enum CodingKeys: String, CodingKey {
            case cell, seed, hidden, layers, threads, steps, batches, losses
            case batchSize = "batch_size", learningRate = "learning_rate"
        }
    }

    /// Writes init.safetensors (the initial weights) and trace.json for `steps` Adam steps of
    /// `options` (the learning-rate plateau rule off: the steps come before any validation).
    public static func record(dataDirectory: String?, outDirectory: String, options requested: TrainingOptions, steps: Int,
                              pool: WorkerPool) throws -> File {
        try TrainingOptions.check(.steps, steps, 1...10_000_000)
        try prepareOutputDirectory(outDirectory)
        try requested.validate()
        var options = requested
        options.lrPatience = 0
        options.patience = TrainingOptions.limits.patience  // no early stop before the steps are done
        // The replay (scripts/compare) is plain teacher forcing, and a trace needs no generator.
        options.monitor = .valLoss
        options.sampling = ScheduledSampling()
        try TrainingRun.checkMemory(options, workers: pool.count)
        let mnist = try MNIST.load(directory: MNIST.resolveDirectory(dataDirectory), withTest: false)
        var train = mnist.train
        if let limit = options.trainLimit, limit < train.count { train = train.subset(Array(0..<limit)) }
        let split = Split(count: train.count, validationFraction: options.validationFraction, seed: options.seed)
        try options.validate(trainCount: split.train.count)
        let params = Parameters.initialized(options.model, seed: options.seed)
        try Safetensors.save(params, metadata: ["seed": "\(options.seed)", "step": "0", "cell": options.model.cellName],
                             to: outDirectory + "/" + OutputFiles.initialWeights)
        let engine = try TrainingEngine(params: params, adamConfig: AdamConfig(learningRate: options.learningRate),
                                        pool: pool, shape: options.shape)
        options.maxEpochs = (steps * options.batchSize) / split.train.count + 2
        var batches: [[Int]] = [], losses: [Double] = []
        var configuration = Trainer.Configuration(options: options)
        configuration.onStep = { step, batch, loss in
            batches.append(Array(batch))
            losses.append(loss)
            return step < steps
        }
        let trainer = try Trainer(configuration, engine: engine, data: train, split: split, reporter: ProgressReporter(quiet: true))
        _ = try trainer.train()
        guard losses.count == steps else {
            throw PatchRNNError("recorded only \(losses.count) of the \(steps) steps asked for (\(options.maxEpochs) epochs of \(split.train.count) training sequences)")
        }
        let file = File(cell: options.model.cellName, batchSize: options.batchSize, seed: options.seed,
                        learningRate: options.learningRate.decimal, hidden: options.model.hidden, layers: options.model.layers,
                        threads: pool.count, steps: losses.count, batches: batches, losses: losses)
        try writeFileAtomically(jsonText(file), to: outDirectory + "/" + OutputFiles.trace)
        return file
    }
}
