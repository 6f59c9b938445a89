import CSync
import Foundation

public struct TrainingOptions: Sendable, Codable, Equatable {
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

    /// Checks the options that need no data, before any work starts.
    public func validate() throws {
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
    }

    /// Also checks the batch against the training set.
    public func validate(trainCount: Int) throws {
        try validate()
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

/// Where a run stands between two steps: everything, besides the weights and Adam's moments,
/// that an interrupted run needs to continue exactly as if it had not stopped.
public struct TrainingProgress: Codable, Sendable {
    public var epoch = 1              // the epoch in progress, from 1
    public var stepInEpoch = 0        // steps of it already done
    public var lossSum = 0.0          // sum of batch loss x batch size so far in this epoch
    public var samples = 0
    public var secondsSoFar = 0.0     // training time spent in this epoch before the stop
    public var globalStep = 0
    public var bestValLoss = Double.infinity
    public var bestEpoch = 0
    public var sinceBest = 0
    public var learningRate: Float = 1e-3
    public var history: [EpochRecord] = []
    public init() {}
}

/// Thrown when SIGINT or SIGTERM stopped training after a step and a resume checkpoint was
/// written. The tool exits with 128 + signal (130 for SIGINT, 143 for SIGTERM).
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public let signal: Int32
    public let checkpoint: String
    public let progress: TrainingProgress
    public var description: String {
        "interrupted (signal \(signal)) in epoch \(progress.epoch) after step \(progress.stepInEpoch); state saved to \(checkpoint); continue with --resume \(checkpoint)"
    }
}

/// Epochs of minibatch Adam with a seeded shuffle, validation after each epoch, early stopping
/// with patience, and the best weights restored at the end. A checkpoint of the best weights
/// is written (atomically) whenever validation improves, so an interrupted run loses nothing.
/// SIGINT/SIGTERM end the current step, save everything needed to resume (weights, Adam
/// moments and step, best weights, position in the epoch) and stop; `resume` continues to
/// bit-identical weights.
public final class Trainer {
    public let options: TrainingOptions
    public let engine: TrainingEngine
    public let data: PatchSet
    public let split: Split
    public let reporter: ProgressReporter
    public var checkpointPath: String?
    public var logPath: String?
    /// Where the resume state goes when training is interrupted (default: beside the checkpoint).
    public var resumePath: String?
    /// When set, each epoch also measures the free-running bottom-half MSE on validation images.
    public var generator: Generator?
    /// Called after every Adam step with the step number (from 1), the minibatch (indices
    /// into `data`) and its loss; returning false ends training there (used by `trace`).
    public var onStep: ((Int, UnsafeBufferPointer<Int>, Double) -> Bool)?
    /// Asked after every step; a non-zero signal number stops training with a resume
    /// checkpoint. Default: the SIGINT/SIGTERM flag.
    public var interruptSignal: () -> Int32 = { csync_interrupt_signal() }
    /// The state to start from (a resumed run); a new run starts from scratch.
    public var progress = TrainingProgress()
    /// Where each training-file index sits in `data` when this process holds only part of the
    /// training set (an MPI rank: -1 for images it does not hold); nil: `data` is indexed by
    /// training-file index.
    public var rowOf: [Int32]?
    private var best: Parameters
    private var group: ProcessGroup { engine.group }

    public init(options: TrainingOptions, engine: TrainingEngine, data: PatchSet, split: Split, reporter: ProgressReporter) {
        self.options = options
        self.engine = engine
        self.data = data
        self.split = split
        self.reporter = reporter
        best = engine.params.copy()
        progress.learningRate = options.learningRate
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

    /// The training order of an epoch (training-file indices): seeded by (seed, epoch) alone,
    /// so a resumed run needs no generator state; drawn by `ShardSlots`, so each MPI rank
    /// needs only its own part of the data.
    public func epochOrder(_ epoch: Int) -> [Int] {
        ShardSlots(batchSize: options.batchSize, shardSize: options.shardSize, count: split.train.count)
            .epochOrder(split.train, seed: options.seed, epoch: epoch)
    }

    /// Training-file indices as rows of `data` (-1: not held by this process).
    func rows(_ indices: [Int]) -> [Int] {
        guard let rowOf else { return indices }
        return indices.map { Int(rowOf[$0]) }
    }

    public func train() throws -> TrainingResult {
        let params = engine.params
        engine.adamConfig.learningRate = progress.learningRate
        let start = monotonicSeconds()
        let steps = (split.train.count + options.batchSize - 1) / options.batchSize
        var stoppedEarly = false, stopRequested = false
        var p = progress
        if p.epoch > options.maxEpochs { return result(p, start: start, stoppedEarly: false) }
        let validationRows = rows(split.validation)
        for epoch in p.epoch...options.maxEpochs {
            let order = rows(epochOrder(epoch))
            if epoch != p.epoch {  // a fresh epoch (a resumed one keeps its position and loss sums)
                p.epoch = epoch; p.stepInEpoch = 0; p.lossSum = 0; p.samples = 0; p.secondsSoFar = 0
            }
            let epochLearningRate = engine.adamConfig.learningRate
            let t0 = monotonicSeconds() - p.secondsSoFar
            try order.withUnsafeBufferPointer { all in
                while p.stepInEpoch < steps && !stopRequested {
                    let lo = p.stepInEpoch * options.batchSize, hi = min(lo + options.batchSize, all.count)
                    let batch = UnsafeBufferPointer(rebasing: all[lo..<hi])
                    let loss = try engine.step(data, batch)
                    p.stepInEpoch += 1
                    p.globalStep += 1
                    p.lossSum += loss * Double(hi - lo)
                    p.samples += hi - lo
                    let elapsed = monotonicSeconds() - t0
                    reporter.step(epoch: epoch, epochs: options.maxEpochs, done: p.stepInEpoch, total: steps,
                                  loss: p.lossSum / Double(p.samples), samplesPerSecond: Double(p.samples) / elapsed, elapsed: elapsed)
                    if let onStep, !onStep(p.globalStep, batch, loss) { stopRequested = true }
                    // Every rank must stop after the same step: agree on the signal.
                    let signal = group.size > 1 ? try group.maximum(interruptSignal()) : interruptSignal()
                    if signal != 0 {
                        p.secondsSoFar = elapsed
                        p.learningRate = engine.adamConfig.learningRate
                        let path = resumePath ?? ((checkpointPath.map { ($0 as NSString).deletingLastPathComponent } ?? ".") + "/resume.safetensors")
                        if group.isRoot { try saveResumeState(p, to: path) }
                        try group.barrier()  // the file is complete before any rank reports it
                        throw TrainingInterrupted(signal: signal, checkpoint: path, progress: p)
                    }
                }
            }
            if stopRequested { break }
            let trainSeconds = monotonicSeconds() - t0
            // Validation runs where the validation images are (rank 0); every rank then takes
            // the same decisions from the same two numbers.
            var measured = [Double.nan, Double.nan]
            if group.isRoot {
                measured[0] = try engine.meanLoss(data, validationRows)
                measured[1] = try generator.map { try bottomHalfMSE(generator: $0, data: data, indices: Array(validationRows.prefix(2000))) } ?? .nan
            }
            try measured.withUnsafeMutableBufferPointer { try group.broadcast($0.baseAddress!, count: 2, root: 0) }
            let val = measured[0], valBottom = measured[1].isNaN ? nil : measured[1]
            let seconds = monotonicSeconds() - t0
            let improved = val < p.bestValLoss
            if improved {
                p.bestValLoss = val; p.bestEpoch = epoch; p.sinceBest = 0
                best.buffer.copy(from: params.buffer)
                if let checkpointPath, group.isRoot { try Safetensors.save(best, metadata: metadata(epoch: epoch, bestValLoss: val), to: checkpointPath) }
            } else {
                p.sinceBest += 1
            }
            var lrNote = ""
            if options.lrPatience > 0, p.sinceBest > 0, p.sinceBest % options.lrPatience == 0 {
                engine.adamConfig.learningRate = max(engine.adamConfig.learningRate / 2, 1e-6)
                lrNote = " - learning rate -> \(engine.adamConfig.learningRate)"
            }
            p.learningRate = engine.adamConfig.learningRate
            let record = EpochRecord(epoch: epoch, trainLoss: p.lossSum / Double(p.samples), valLoss: val, valBottomMSE: valBottom, seconds: seconds,
                                     samplesPerSecond: Double(p.samples) / trainSeconds, best: improved,
                                     learningRate: Double(epochLearningRate))
            p.history.append(record)
            p.stepInEpoch = steps  // this epoch is complete
            reporter.info("Epoch \(epoch)/\(options.maxEpochs) - \(fmt(seconds, 1))s - loss: \(fmt(record.trainLoss, 5)) - val_loss: \(fmt(val, 5))\(valBottom.map { " - val_bottom: " + fmt($0, 5) } ?? "") - \(Int(record.samplesPerSecond)) samples/s\(improved ? " *" : "")\(lrNote)")
            if let logPath, group.isRoot { try writeLog(p.history, to: logPath) }
            if p.sinceBest >= options.patience {
                reporter.info("Early stopping: validation loss has not improved for \(options.patience) epochs; restoring epoch \(p.bestEpoch) (val_loss \(fmt(p.bestValLoss, 5)))")
                stoppedEarly = true
                break
            }
        }
        progress = p
        params.buffer.copy(from: best.buffer)
        return result(p, start: start, stoppedEarly: stoppedEarly)
    }

    private func result(_ p: TrainingProgress, start: Double, stoppedEarly: Bool) -> TrainingResult {
        TrainingResult(history: p.history, bestEpoch: p.bestEpoch, bestValLoss: p.bestValLoss,
                       trainSeconds: monotonicSeconds() - start, stoppedEarly: stoppedEarly)
    }

    private func writeLog(_ history: [EpochRecord], to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var text = ""
        for r in history { text += String(decoding: try enc.encode(r), as: UTF8.self) + "\n" }
        try writeFileAtomically(text, to: path)
    }

    // MARK: Resume state

    static let resumeKey = "resume_progress", optionsKey = "training_options"
    // The best validation loss is +infinity until the first epoch ends; JSON has no infinity.
    static let floats = (positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    /// Weights, Adam's moments, the best weights so far and the progress, in one safetensors
    /// file (the extra tensors are named optimizer.*, so PyTorch tools can still read the model).
    public func saveResumeState(_ p: TrainingProgress, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: Self.floats.positiveInfinity,
                                                                  negativeInfinity: Self.floats.negativeInfinity, nan: Self.floats.nan)
        var meta = metadata(epoch: p.epoch, bestValLoss: p.bestValLoss)
        meta[Self.resumeKey] = String(decoding: try enc.encode(p), as: UTF8.self)
        meta[Self.optionsKey] = String(decoding: try enc.encode(options), as: UTF8.self)
        meta["adam_step"] = "\(engine.adam.step)"
        try Safetensors.save(engine.params, metadata: meta, to: path, extra: [
            ("optimizer.adam_m", engine.adam.m.array), ("optimizer.adam_v", engine.adam.v.array),
            ("optimizer.best_parameters", best.buffer.array)])
    }

    /// The options and progress stored in a resume checkpoint, or an error saying why the file
    /// cannot be resumed from.
    public static func resumeInfo(_ file: Safetensors.File, name: String) throws -> (TrainingOptions, TrainingProgress, adamStep: Int) {
        guard let o = file.metadata[optionsKey], let r = file.metadata[resumeKey], let stepText = file.metadata["adam_step"],
              let step = Int(stepText) else {
            throw PatchRNNError.file(name, "is not a resume checkpoint (no training state; it holds weights only). Resume from the resume.safetensors an interrupted run wrote")
        }
        do {
            let dec = JSONDecoder()
            dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: floats.positiveInfinity,
                                                                        negativeInfinity: floats.negativeInfinity, nan: floats.nan)
            let options = try dec.decode(TrainingOptions.self, from: Data(o.utf8))
            let progress = try dec.decode(TrainingProgress.self, from: Data(r.utf8))
            return (options, progress, step)
        } catch {
            throw PatchRNNError.file(name, "training state in the header is damaged (\(error))")
        }
    }

    /// Restores Adam's moments, the best weights and the progress from a resume checkpoint
    /// (the engine's parameters were loaded from the same file).
    public func restore(from file: Safetensors.File, name: String) throws {
        let (_, p, step) = try Self.resumeInfo(file, name: name)
        let n = engine.layout.paddedCount
        for (key, target) in [("optimizer.adam_m", engine.adam.m), ("optimizer.adam_v", engine.adam.v), ("optimizer.best_parameters", best.buffer)] {
            guard let t = file.tensors[key], t.values.count == n else {
                throw PatchRNNError.file(name, "tensor \(key) is missing or has the wrong size for this model")
            }
            t.values.withUnsafeBufferPointer { target.pointer.update(from: $0.baseAddress!, count: n) }
        }
        engine.adam.step = step
        progress = p
    }
}
