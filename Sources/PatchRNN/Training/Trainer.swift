import Foundation

public struct TrainingOptions: Sendable {
    public var model = ModelConfig.default
    public var batchSize = 64
    public var maxEpochs = 100
    public var patience = 5
    /// Halve the learning rate after this many epochs without validation improvement
    /// (ReduceLROnPlateau); 0 disables.
    public var lrPatience = 2
    public var learningRate: Float = 1e-3
    public var seed: UInt64 = 1
    public var validationFraction = 0.1
    /// Sequences per shard: the unit of work and of the fixed gradient summation order.
    public var shardSize = 16
    /// Use only the first N training images (quick runs and tests); nil: all.
    public var trainLimit: Int?
    public init() {}

    /// Checks the options before any work starts.
    public func validate(trainCount: Int) throws {
        guard model.hidden >= 1 else { throw PatchRNNError("--hidden must be at least 1 (got \(model.hidden))") }
        guard model.layers >= 1 else { throw PatchRNNError("--layers must be at least 1 (got \(model.layers))") }
        guard batchSize >= 1 else { throw PatchRNNError("--batch-size must be at least 1 (got \(batchSize))") }
        guard shardSize >= 1 else { throw PatchRNNError("--shard-size must be at least 1 (got \(shardSize))") }
        guard maxEpochs >= 1 else { throw PatchRNNError("--epochs must be at least 1 (got \(maxEpochs))") }
        guard lrPatience >= 0 else { throw PatchRNNError("--lr-patience must be 0 (off) or more (got \(lrPatience))") }
        guard patience >= 1 else { throw PatchRNNError("--patience must be at least 1 (got \(patience))") }
        guard learningRate.isFinite, learningRate > 0 else { throw PatchRNNError("--learning-rate must be a positive number (got \(learningRate))") }
        guard validationFraction > 0, validationFraction < 1 else {
            throw PatchRNNError("--validation-fraction must be between 0 and 1 (got \(validationFraction))")
        }
        guard batchSize <= trainCount else {
            throw PatchRNNError("--batch-size \(batchSize) is larger than the \(trainCount) training sequences")
        }
    }
}

/// One epoch's record (a line of train-log.jsonl).
public struct EpochRecord: Codable, Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var valLoss: Double
    /// Free-running bottom-half MSE on (up to 2,000 of) the validation images: what the
    /// generated digits will look like, which teacher-forced loss alone does not show.
    public var valBottomMSE: Double?
    public var seconds: Double
    public var samplesPerSecond: Double
    public var best: Bool
    public var learningRate: Double

    enum CodingKeys: String, CodingKey {
        case epoch, seconds, best
        case trainLoss = "train_loss", valLoss = "val_loss", samplesPerSecond = "samples_per_s"
        case valBottomMSE = "val_bottom_mse", learningRate = "learning_rate"
    }
}

public struct TrainingResult: Sendable {
    public var history: [EpochRecord]
    public var bestEpoch: Int
    public var bestValLoss: Double
    public var trainSeconds: Double
    public var stoppedEarly: Bool
}

/// Epochs of minibatch Adam with a seeded shuffle, validation after each epoch, early stopping
/// with patience, and the best weights restored at the end. A checkpoint of the best weights
/// is written (atomically) whenever validation improves, so an interrupted run loses nothing.
public final class Trainer {
    public let options: TrainingOptions
    public let engine: TrainingEngine
    public let data: PatchSet
    public let split: Split
    public let reporter: ProgressReporter
    public var checkpointPath: String?
    public var logPath: String?
    /// When set, each epoch also measures the free-running bottom-half MSE on validation images.
    public var generator: Generator?
    /// Called after every Adam step with the step number (from 1), the minibatch (indices
    /// into `data`) and its loss; returning false ends training there (used by `trace`).
    public var onStep: ((Int, UnsafeBufferPointer<Int>, Double) -> Bool)?

    public init(options: TrainingOptions, engine: TrainingEngine, data: PatchSet, split: Split, reporter: ProgressReporter) {
        self.options = options
        self.engine = engine
        self.data = data
        self.split = split
        self.reporter = reporter
    }

    public func metadata(epoch: Int, bestValLoss: Double) -> [String: String] {
        let m = options.model
        return ["format": "patchrnn-1", "input_size": "\(m.inputSize)", "hidden": "\(m.hidden)", "layers": "\(m.layers)",
                "output_size": "\(m.outputSize)", "epoch": "\(epoch)", "seed": "\(options.seed)",
                "batch_size": "\(options.batchSize)", "learning_rate": "\(options.learningRate)",
                "shard_size": "\(options.shardSize)", "best_val_loss": "\(bestValLoss)",
                "validation_fraction": "\(options.validationFraction)", "lr_patience": "\(options.lrPatience)",
                "gate_order": "i,f,g,o"]
    }

    public func train() throws -> TrainingResult {
        let params = engine.params
        let best = params.copy()
        var bestVal = Double.infinity, bestEpoch = 0, sinceBest = 0
        var history: [EpochRecord] = []
        var order = split.train
        var rng = SeededRandom(seed: options.seed, stream: "shuffle")
        let start = monotonicSeconds()
        let steps = (order.count + options.batchSize - 1) / options.batchSize
        var logLines = ""
        var stoppedEarly = false
        var globalStep = 0, stopRequested = false
        for epoch in 1...options.maxEpochs {
            rng.shuffle(&order)
            let epochLearningRate = engine.adamConfig.learningRate
            let t0 = monotonicSeconds()
            var lossSum = 0.0, samples = 0
            try order.withUnsafeBufferPointer { all in
                for s in 0..<steps where !stopRequested {
                    let lo = s * options.batchSize, hi = min(lo + options.batchSize, all.count)
                    let batch = UnsafeBufferPointer(rebasing: all[lo..<hi])
                    let loss = try engine.step(data, batch)
                    globalStep += 1
                    if let onStep, !onStep(globalStep, batch, loss) { stopRequested = true }
                    lossSum += loss * Double(hi - lo)
                    samples += hi - lo
                    let elapsed = monotonicSeconds() - t0
                    reporter.step(epoch: epoch, epochs: options.maxEpochs, done: s + 1, total: steps,
                                  loss: lossSum / Double(samples), samplesPerSecond: Double(samples) / elapsed, elapsed: elapsed)
                }
            }
            if stopRequested { break }
            let trainSeconds = monotonicSeconds() - t0
            let val = try engine.meanLoss(data, split.validation)
            let valBottom = try generator.map { try bottomHalfMSE(generator: $0, data: data, indices: Array(split.validation.prefix(2000))) }
            let seconds = monotonicSeconds() - t0
            let improved = val < bestVal
            if improved {
                bestVal = val; bestEpoch = epoch; sinceBest = 0
                best.buffer.copy(from: params.buffer)
                if let checkpointPath { try Safetensors.save(best, metadata: metadata(epoch: epoch, bestValLoss: val), to: checkpointPath) }
            } else {
                sinceBest += 1
            }
            var lrNote = ""
            if options.lrPatience > 0, sinceBest > 0, sinceBest % options.lrPatience == 0 {
                engine.adamConfig.learningRate = max(engine.adamConfig.learningRate / 2, 1e-6)
                lrNote = " - learning rate -> \(engine.adamConfig.learningRate)"
            }
            let record = EpochRecord(epoch: epoch, trainLoss: lossSum / Double(samples), valLoss: val, valBottomMSE: valBottom, seconds: seconds,
                                     samplesPerSecond: Double(samples) / trainSeconds, best: improved,
                                     learningRate: Double(epochLearningRate))
            history.append(record)
            reporter.info("Epoch \(epoch)/\(options.maxEpochs) - \(fmt(seconds, 1))s - loss: \(fmt(record.trainLoss, 5)) - val_loss: \(fmt(val, 5))\(valBottom.map { " - val_bottom: " + fmt($0, 5) } ?? "") - \(Int(record.samplesPerSecond)) samples/s\(improved ? " *" : "")\(lrNote)")
            if let logPath {
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys]
                logLines += String(decoding: try enc.encode(record), as: UTF8.self) + "\n"
                try writeFileAtomically(logLines, to: logPath)
            }
            if sinceBest >= options.patience {
                reporter.info("Early stopping: validation loss has not improved for \(options.patience) epochs; restoring epoch \(bestEpoch) (val_loss \(fmt(bestVal, 5)))")
                stoppedEarly = true
                break
            }
        }
        params.buffer.copy(from: best.buffer)
        return TrainingResult(history: history, bestEpoch: bestEpoch, bestValLoss: bestVal,
                              trainSeconds: monotonicSeconds() - start, stoppedEarly: stoppedEarly)
    }
}
