import Foundation

/// What an interrupted run needs to continue exactly as if it had not stopped, in one
/// safetensors file: the weights under their PyTorch names (so PyTorch tools can still read
/// the model), Adam's moments and the best weights so far as `optimizer.*` tensors, and in the
/// metadata the options, the progress (JSON) and Adam's step count.
///
/// Training writes it at every epoch's end (and, if asked, every few minutes, and when a signal
/// or the step limit stops it), so a run killed outright loses at most the epoch in progress.
/// The state written after the last epoch is marked finished: there is nothing left to resume.
///
/// Everything read from the file is checked before it is used, as options given on the
/// command line are: the settings, every counter against the others (a position that no run
/// can reach is refused, so no counter can overflow later), every float finite.
public struct ResumeState {
    public var options: TrainingOptions
    public var progress: TrainingProgress
    public var adamStep: Int
    /// Adam's m and v and the best weights, in the parameter layout (padded).
    public var adamM: [Float]
    public var adamV: [Float]
    public var bestParameters: [Float]
    /// The run ended (early stopping, or its last epoch): nothing is left to resume.
    public var finished = false

    static let progressKey = "resume_progress", optionsKey = "training_options", stepKey = "adam_step", finishedKey = "resume_finished"
    static let tensorNames = (m: "optimizer.adam_m", v: "optimizer.adam_v", best: "optimizer.best_parameters")
    // The best validation loss is +infinity until the first epoch ends; JSON has no infinity.
    static let floats = (positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    /// Writes the state of a run to `path` (atomically).
    public static func save(
        params: Parameters, adam: AdamState, best: Parameters, options: TrainingOptions,
        progress: TrainingProgress, finished: Bool = false, to path: String
    ) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: floats.positiveInfinity,
            negativeInfinity: floats.negativeInfinity, nan: floats.nan)
        // The metadata's epoch and best_val_loss mean what a checkpoint's do: the kept epoch and
        // its validation loss (none before an epoch has improved); the position is in resume_progress.
        let kept = progress.history.first { $0.epoch == progress.bestEpoch }
        var meta = options.summary(epoch: kept?.epoch, bestValLoss: kept?.valLoss)
        meta[progressKey] = String(decoding: try enc.encode(progress), as: UTF8.self)
        meta[optionsKey] = String(decoding: try enc.encode(options), as: UTF8.self)
        meta[stepKey] = "\(adam.step)"
        if finished { meta[finishedKey] = "true" }
        try Safetensors.save(
            params, metadata: meta, to: path,
            extra: [
                (tensorNames.m, adam.m.array), (tensorNames.v, adam.v.array), (tensorNames.best, best.buffer.array),
            ])
    }

    /// The settings and position of a resume checkpoint, checked, or an error saying why the
    /// file cannot be resumed from (the tensors are checked by `read`).
    public static func info(_ file: Safetensors.File, name: String) throws -> (
        options: TrainingOptions, progress: TrainingProgress, adamStep: Int, finished: Bool
    ) {
        guard let o = file.metadata[optionsKey], let r = file.metadata[progressKey], let stepText = file.metadata[stepKey] else {
            throw PatchRNNError.file(
                name,
                "is not a resume checkpoint (no training state; it holds weights only). Resume from the resume.safetensors an interrupted run wrote"
            )
        }
        let options: TrainingOptions, progress: TrainingProgress
        do {
            let dec = JSONDecoder()
            dec.nonConformingFloatDecodingStrategy = .convertFromString(
                positiveInfinity: floats.positiveInfinity,
                negativeInfinity: floats.negativeInfinity, nan: floats.nan)
            options = try dec.decode(TrainingOptions.self, from: Data(o.utf8))
            progress = try dec.decode(TrainingProgress.self, from: Data(r.utf8))
        } catch {
            throw PatchRNNError.file(name, "training state in the header is damaged (not the JSON this version writes)")
        }
        do {
            try options.validate()
        } catch let e as PatchRNNError {
            throw PatchRNNError.file(name, "training state in the header is not valid (\(e.description))")
        }
        guard let step = Int(stepText) else {
            throw PatchRNNError.file(name, "training state in the header is not valid (Adam step '\(stepText)')")
        }
        if let problem = inconsistency(options: options, progress: progress, adamStep: step) {
            throw PatchRNNError.file(name, "training state in the header is out of range (\(problem))")
        }
        let finished = file.metadata[finishedKey] == "true"
        return (options, progress, step, finished)
    }

    /// What no run can have written, or nil: each counter within its range and consistent with
    /// the others, each float finite (a best value of +infinity means "none yet").
    static func inconsistency(options: TrainingOptions, progress p: TrainingProgress, adamStep: Int) -> String? {
        func measure(_ x: Double) -> Bool { x.isFinite && x >= 0 }
        guard (1...(options.maxEpochs + 1)).contains(p.epoch) else { return "epoch \(p.epoch) of at most \(options.maxEpochs)" }
        guard p.stepInEpoch >= 0, p.samples >= 0, p.globalStep >= 0 else { return "a negative step or sample count" }
        guard adamStep == p.globalStep else { return "Adam step \(adamStep) is not the step count \(p.globalStep)" }
        guard p.globalStep >= p.stepInEpoch, p.globalStep / max(p.epoch, 1) <= Int(Int32.max) else {
            return "step count \(p.globalStep) in epoch \(p.epoch)"
        }
        guard p.history.count == p.epoch - 1, p.history.enumerated().allSatisfy({ $0.element.epoch == $0.offset + 1 }) else {
            return "\(p.history.count) epoch records before epoch \(p.epoch)"
        }
        guard (0..<p.epoch).contains(p.bestEpoch), p.sinceBest == p.epoch - 1 - p.bestEpoch else {
            return "best epoch \(p.bestEpoch), \(p.sinceBest) epochs since, in epoch \(p.epoch)"
        }
        if p.bestEpoch == 0 {
            guard p.bestValLoss == .infinity else { return "a best value \(p.bestValLoss) without a best epoch" }
        } else {
            guard measure(p.bestValLoss), p.history[p.bestEpoch - 1].best else {
                return "best value \(p.bestValLoss) at epoch \(p.bestEpoch)"
            }
        }
        guard measure(p.lossSum), measure(p.secondsSoFar) else { return "loss sum \(p.lossSum), \(p.secondsSoFar) s" }
        guard p.stepInEpoch > 0 || (p.samples == 0 && p.lossSum == 0) else { return "\(p.samples) samples before the first step" }
        guard p.learningRate.isFinite, p.learningRate > 0, p.learningRate <= options.learningRate else {
            return "learning rate \(p.learningRate) (the run started at \(options.learningRate) and only lowers it)"
        }
        for r in p.history {
            guard measure(r.trainLoss), measure(r.valLoss), r.valBottomMSE.map(measure) ?? true, measure(r.seconds),
                measure(r.samplesPerSecond), r.learningRate.isFinite, r.learningRate > 0,
                r.samplingProbability.map({ (0...1).contains($0) }) ?? true
            else {
                return "epoch record \(r.epoch) holds an impossible value"
            }
        }
        return nil
    }

    /// The position must be one a run can reach on a training set of `trainCount` sequences:
    /// the steps and samples of the epochs before plus those of this one (so no counter can
    /// overflow later).
    public func checkPosition(trainCount: Int, file: String? = nil) throws {
        let p = progress, batch = options.batchSize
        let steps = (trainCount + batch - 1) / batch
        guard p.stepInEpoch <= steps, p.globalStep == (p.epoch - 1) * steps + p.stepInEpoch,
            p.samples == min(p.stepInEpoch * batch, trainCount)
        else {
            throw PatchRNNError(
                "\(file.map { $0 + ": " } ?? "")the resume state's position (step \(p.stepInEpoch) of epoch \(p.epoch), \(p.globalStep) steps in all) does not fit this data (\(steps) steps per epoch of \(trainCount) training sequences)"
            )
        }
    }

    /// The whole state, checked against `layout`.
    public static func read(_ file: Safetensors.File, name: String, layout: ParameterLayout) throws -> ResumeState {
        let (options, progress, step, finished) = try info(file, name: name)
        func tensor(_ key: String, nonNegative: Bool = false) throws -> [Float] {
            guard let t = file.tensors[key], t.values.count == layout.paddedCount else {
                throw PatchRNNError.file(name, "tensor \(key) is missing or has the wrong size for this model")
            }
            if let i = t.values.firstIndex(where: { !$0.isFinite || (nonNegative && $0 < 0) }) {
                throw PatchRNNError.file(name, "tensor \(key) holds \(t.values[i]) (element \(i)): a damaged resume file")
            }
            return t.values
        }
        return ResumeState(
            options: options, progress: progress, adamStep: step, adamM: try tensor(tensorNames.m),
            adamV: try tensor(tensorNames.v, nonNegative: true), bestParameters: try tensor(tensorNames.best),
            finished: finished)
    }
}

/// A resume file, loaded and checked: where a `--resume` run starts.
public struct ResumePoint {
    public let path: String
    /// The weights to continue from (the model's shape comes from the file).
    public let params: Parameters
    public let state: ResumeState

    /// Loads `path` and checks it all: a weights-only checkpoint, a damaged or impossible state,
    /// a `requestedCell` that contradicts it, and a finished run are refused.
    /// - Parameters:
    ///   - path: A resume.safetensors an interrupted run wrote.
    ///   - requestedCell: The cell the user asked for, if any (checked against the file's).
    /// - Throws: `PatchRNNError` naming the file and why it cannot be resumed from.
    public init(path: String, requestedCell: String? = nil) throws {
        let (loaded, file) = try Safetensors.load(path: path)
        let state = try ResumeState.read(file, name: path, layout: loaded.layout)
        try Cells.check(requested: requestedCell, against: loaded.config, file: path)
        guard state.options.model == loaded.config else {
            throw PatchRNNError.file(path, "its weights do not match its own training options")
        }
        if state.finished {
            let p = state.progress
            let model =
                (path as NSString).deletingLastPathComponent.isEmpty
                ? OutputFiles.checkpoint
                : (path as NSString).deletingLastPathComponent + "/" + OutputFiles.checkpoint
            let modelNote = FileManager.default.fileExists(atPath: model) ? "; its model is \(model)" : ""
            throw PatchRNNError.file(
                path,
                "the run it belongs to is complete (\(p.history.count) epochs, kept epoch \(p.bestEpoch)): nothing to resume\(modelNote)")
        }
        self.path = path
        params = loaded
        self.state = state
    }
}
