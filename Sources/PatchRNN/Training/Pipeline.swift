import CSync
import Foundation

/// The jobs behind the command-line tool, kept here so the tool stays a thin layer of options.
public enum Pipeline {
    public struct TrainOutcome {
        public let params: Parameters
        public let result: TrainingResult
        public let engine: TrainingEngine
        public let data: MNIST
    }

    public static let checkpointName = "model.safetensors"
    public static let logName = "train-log.jsonl"
    public static let lossPlotName = "loss.svg"

    /// Loads MNIST, trains with early stopping, writes the checkpoint, the log and the plot.
    /// With `resume`, the options, weights, Adam state and position come from that file.
    /// Under MPI (`group.size > 1`) every rank loads only its part of the training set, rank 0
    /// also the validation and test sets, and only rank 0 writes files (every rank reads
    /// `resume`, so it must be on a file system all ranks see).
    public static func train(dataDirectory: String?, outDirectory: String, options requested: TrainingOptions,
                             pool: WorkerPool, reporter: ProgressReporter, resume: String? = nil,
                             group: ProcessGroup = SingleProcess(), exchange: GradientExchange = .exact) throws -> TrainOutcome {
        if group.isRoot { try prepareOutputDirectory(outDirectory) }
        var options = requested
        var resumeFile: Safetensors.File?
        var params: Parameters
        if let resume {
            let (loaded, file) = try Safetensors.load(path: resume)
            let (saved, progress, _) = try Trainer.resumeInfo(file, name: resume)
            guard saved.model == loaded.config else { throw PatchRNNError.file(resume, "its weights do not match its own training options") }
            options = saved
            params = loaded
            resumeFile = file
            reporter.info("resuming from \(resume): epoch \(progress.epoch), step \(progress.stepInEpoch) (settings from the checkpoint)")
        } else {
            try options.validate()
            try checkMemory(layout: ParameterLayout(options.model), options: options, workers: pool.count)
            params = Parameters.initialized(options.model, seed: options.seed)
        }
        if let limit = options.trainLimit, limit < 2 { throw PatchRNNError("--train-limit must be at least 2 (got \(limit))") }
        let dir = MNIST.resolveDirectory(dataDirectory)
        let loadStart = monotonicSeconds()
        var split: Split?, held: [Int] = []
        let mnist = try MNIST.load(directory: dir, withTest: group.isRoot) { fileCount in
            let count = min(options.trainLimit ?? fileCount, fileCount)
            let s = Split(count: count, validationFraction: options.validationFraction, seed: options.seed)
            try options.validate(trainCount: s.train.count)
            guard !s.validation.isEmpty else { throw PatchRNNError("the validation split is empty: use more data or a larger --validation-fraction") }
            split = s
            if group.size == 1 { held = Array(0..<count); return held }
            let slots = ShardSlots(batchSize: options.batchSize, shardSize: options.shardSize, count: s.train.count)
            held = slots.positions(rank: group.rank, size: group.size).map { s.train[$0] }
            if group.isRoot { held += s.validation }
            held.sort()
            return held
        }
        guard let split else { throw PatchRNNError("no training images were read") }
        let train = mnist.train
        reporter.info("MNIST from \(dir): \(split.train.count) training, \(split.validation.count) validation, \(mnist.test.count) test images (loaded in \(fmt(monotonicSeconds() - loadStart, 1)) s)")
        if group.size > 1 {
            reporter.info("\(group.size) MPI ranks, gradient exchange: \(exchange.rawValue)")
            reporter.info("\(group.label): holds \(train.count) of the training-file images (its slots of every minibatch\(group.isRoot ? ", plus validation" : ""))")
        }
        let engine = try TrainingEngine(params: params, adamConfig: AdamConfig(learningRate: options.learningRate),
                                        pool: pool, shardSize: options.shardSize, maxBatch: options.batchSize, group: group)
        engine.exchange = exchange
        reporter.info("model: \(options.model.layers) x LSTM(\(options.model.hidden)) + Dense(\(options.model.outputSize)), \(params.layout.parameterCount) parameters; batch \(options.batchSize), lr \(options.learningRate), patience \(options.patience), seed \(options.seed)")
        let trainer = Trainer(options: options, engine: engine, data: train, split: split, reporter: reporter)
        if group.size > 1 {
            var rowOf = [Int32](repeating: -1, count: split.train.count + split.validation.count)
            for (row, i) in held.enumerated() { rowOf[i] = Int32(row) }
            trainer.rowOf = rowOf
        }
        if let resumeFile, let resume { try trainer.restore(from: resumeFile, name: resume) }
        trainer.checkpointPath = outDirectory + "/" + checkpointName
        trainer.logPath = outDirectory + "/" + logName
        trainer.resumePath = outDirectory + "/" + resumeName
        trainer.generator = try Generator(params: params, pool: pool)
        csync_install_interrupt_handlers()
        let result = try trainer.train()
        if group.isRoot {
            try Safetensors.save(params, metadata: trainer.metadata(epoch: result.bestEpoch, bestValLoss: result.bestValLoss),
                                 to: outDirectory + "/" + checkpointName)
            try writeFileAtomically(lossPlotSVG(train: result.history.map(\.trainLoss), validation: result.history.map(\.valLoss),
                                                bestEpoch: result.bestEpoch), to: outDirectory + "/" + lossPlotName)
        }
        if group.size > 1 {
            let t = engine.timing
            reporter.info("\(group.label): per step \(fmt(1000 * t.compute / Double(max(t.steps, 1)), 2)) ms compute, \(fmt(1000 * t.exchange / Double(max(t.steps, 1)), 2)) ms gradient exchange, \(fmt(1000 * t.reduceAndUpdate / Double(max(t.steps, 1)), 2)) ms sum + Adam")
        }
        return TrainOutcome(params: params, result: result, engine: engine, data: mnist)
    }

    public static let resumeName = "resume.safetensors"

    /// Refuses, before any work, a model or batch whose buffers would not fit in memory.
    public static func checkMemory(layout: ParameterLayout, options: TrainingOptions, workers: Int) throws {
        let floats = TrainingEngine.estimatedFloats(layout: layout, shardSize: options.shardSize,
                                                    maxBatch: options.batchSize, workers: workers)
        let needed = Double(floats) * 4
        let physical = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
        if physical > 0 && needed > 0.8 * physical {
            throw PatchRNNError("this model and batch need about \(fmt(needed / 1_073_741_824, 1)) GiB of buffers; the machine has \(fmt(physical / 1_073_741_824, 1)) GiB: use a smaller --batch-size, --shard-size or --hidden")
        }
    }

    /// Generates every test digit's bottom half, measures the errors, and writes samples.png
    /// (true top + generated bottom), truth.png (the same 100 digits as they are) and, when
    /// `extra` is given, metrics.json with those keys added.
    public static func generateResults(params: Parameters, test: PatchSet, pool: WorkerPool, outDirectory: String?,
                                       extra: [String: Any]?) throws -> (TestMetrics, [String: Any]) {
        let engine = try TrainingEngine(params: params, adamConfig: AdamConfig(), pool: pool, shardSize: 64, maxBatch: 64)
        let generator = try Generator(params: params, pool: pool)
        let (metrics, generations) = try evaluateTestSet(generator: generator, engine: engine, test: test)
        var json = metricsJSON(metrics)
        for (k, v) in extra ?? [:] { json[k] = v }
        if let outDirectory {
            try prepareOutputDirectory(outDirectory)
            let (generated, truth) = sampleGrids(generations: generations, test: test, perClass: 10)
            try writeFileAtomically(digitGridPNG(images: generated, columns: 10, markBoundary: true), to: outDirectory + "/samples.png")
            try writeFileAtomically(digitGridPNG(images: truth, columns: 10, markBoundary: true), to: outDirectory + "/truth.png")
            if extra != nil { try writeFileAtomically(jsonText(json), to: outDirectory + "/metrics.json") }
        }
        return (metrics, json)
    }

    public static func metricsJSON(_ m: TestMetrics) -> [String: Any] {
        ["test_free_running_bottom_mse": m.testFreeRunningBottomMSE,
         "test_teacher_forced_mse": m.testTeacherForcedMSE,
         "per_class_bottom_mse": m.perClassBottomMSE,
         "per_class_count": m.perClassCount,
         "generation_seconds": m.generationSeconds]
    }

    public static func jsonText(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self) + "\n"
    }

    /// The first `perClass` test digits of each class: generated (true top, generated bottom)
    /// and real, as 28x28 images in [0, 1], row-major by class.
    static func sampleGrids(generations: [ClassGeneration], test: PatchSet, perClass: Int) -> ([[Float]], [[Float]]) {
        let top = Patches.topHalf * Patches.patchSize, bottom = PatchSet.sequenceLength - top
        var generated: [[Float]] = [], truth: [[Float]] = []
        for g in generations {
            for j in 0..<min(perClass, g.indices.count) {
                let real = Array(UnsafeBufferPointer(start: test.sequence(g.indices[j]), count: PatchSet.sequenceLength))
                let fake = Array(real[0..<top]) + Array(UnsafeBufferPointer(start: g.bottoms.pointer + j * bottom, count: bottom))
                generated.append(Patches.toImage(fake.map { max(0, min(1, $0)) }))
                truth.append(Patches.toImage(real))
            }
        }
        return (generated, truth)
    }

    /// The summary printed at the end of `run` and `generate`.
    public static func summary(_ m: TestMetrics, files: [String]) -> String {
        var s = "Test set (\(m.perClassCount.reduce(0, +)) images), bottom half generated from the top half:\n"
        s += "  digit   images   bottom-half MSE\n"
        for d in 0..<m.perClassBottomMSE.count {
            s += "  \(d)       \(String(m.perClassCount[d]).padding(toLength: 8, withPad: " ", startingAt: 0)) \(fmt(m.perClassBottomMSE[d], 5))\n"
        }
        s += "  all     \(String(m.perClassCount.reduce(0, +)).padding(toLength: 8, withPad: " ", startingAt: 0)) \(fmt(m.testFreeRunningBottomMSE, 5))   (free-running)\n"
        s += "  teacher-forced test MSE (all 15 steps): \(fmt(m.testTeacherForcedMSE, 5))\n"
        s += "  generation of all test images: \(fmt(m.generationSeconds, 3)) s\n"
        if !files.isEmpty { s += "Wrote:\n" + files.map { "  " + $0 }.joined(separator: "\n") + "\n" }
        return s
    }
}
