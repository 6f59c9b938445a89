import Foundation

/// What an interrupted run needs to continue exactly as if it had not stopped, in one
/// safetensors file: the weights under their PyTorch names (so PyTorch tools can still read
/// the model), Adam's moments and the best weights so far as `optimizer.*` tensors, and in the
/// metadata the options, the progress (JSON) and Adam's step count.
public struct ResumeState {
    public var options: TrainingOptions
    public var progress: TrainingProgress
    public var adamStep: Int
    /// Adam's m and v and the best weights, in the parameter layout (padded).
    public var adamM: [Float]
    public var adamV: [Float]
    public var bestParameters: [Float]

    static let progressKey = "resume_progress", optionsKey = "training_options", stepKey = "adam_step"
    static let tensorNames = (m: "optimizer.adam_m", v: "optimizer.adam_v", best: "optimizer.best_parameters")
    // The best validation loss is +infinity until the first epoch ends; JSON has no infinity.
    static let floats = (positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    /// Writes the state of a run to `path` (atomically).
    public static func save(params: Parameters, adam: AdamState, best: Parameters, options: TrainingOptions,
                            progress: TrainingProgress, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: floats.positiveInfinity,
                                                                  negativeInfinity: floats.negativeInfinity, nan: floats.nan)
        var meta = options.summary(epoch: progress.epoch, bestValLoss: progress.bestValLoss)
        meta[progressKey] = String(decoding: try enc.encode(progress), as: UTF8.self)
        meta[optionsKey] = String(decoding: try enc.encode(options), as: UTF8.self)
        meta[stepKey] = "\(adam.step)"
        try Safetensors.save(params, metadata: meta, to: path, extra: [
            (tensorNames.m, adam.m.array), (tensorNames.v, adam.v.array), (tensorNames.best, best.buffer.array)])
    }

    /// The options and progress of a resume checkpoint, or an error saying why the file cannot
    /// be resumed from (the tensors are checked by `read`).
    public static func info(_ file: Safetensors.File, name: String) throws -> (options: TrainingOptions, progress: TrainingProgress, adamStep: Int) {
        guard let o = file.metadata[optionsKey], let r = file.metadata[progressKey], let stepText = file.metadata[stepKey],
              let step = Int(stepText) else {
            throw PatchRNNError.file(name, "is not a resume checkpoint (no training state; it holds weights only). Resume from the resume.safetensors an interrupted run wrote")
        }
        do {
            let dec = JSONDecoder()
            dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: floats.positiveInfinity,
                                                                        negativeInfinity: floats.negativeInfinity, nan: floats.nan)
            let options = try dec.decode(TrainingOptions.self, from: Data(o.utf8))
            let progress = try dec.decode(TrainingProgress.self, from: Data(r.utf8))
            try options.validate()
            guard step >= 0, progress.epoch >= 1, progress.stepInEpoch >= 0, progress.globalStep >= 0, progress.samples >= 0,
                  progress.bestEpoch >= 0, progress.sinceBest >= 0, progress.learningRate.isFinite, progress.learningRate > 0 else {
                throw PatchRNNError.file(name, "training state in the header is out of range")
            }
            return (options, progress, step)
        } catch let e as PatchRNNError {
            throw PatchRNNError.file(name, "training state in the header is not valid (\(e.description))")
        } catch {
            throw PatchRNNError.file(name, "training state in the header is damaged (not the JSON this version writes)")
        }
    }

    /// The whole state, checked against `layout`.
    public static func read(_ file: Safetensors.File, name: String, layout: ParameterLayout) throws -> ResumeState {
        let (options, progress, step) = try info(file, name: name)
        func tensor(_ key: String) throws -> [Float] {
            guard let t = file.tensors[key], t.values.count == layout.paddedCount else {
                throw PatchRNNError.file(name, "tensor \(key) is missing or has the wrong size for this model")
            }
            return t.values
        }
        return ResumeState(options: options, progress: progress, adamStep: step, adamM: try tensor(tensorNames.m),
                           adamV: try tensor(tensorNames.v), bestParameters: try tensor(tensorNames.best))
    }
}
