/// Every failure the user can cause ends as one of these: one line, naming the file or the
/// setting and what is wrong. The library speaks of settings in plain words ("batch size must
/// be at least 1"); the command-line tool prints `error: <description>`, naming a setting by
/// its flag ("--batch-size must be at least 1"), and exits non-zero.
public struct PatchRNNError: Error, CustomStringConvertible, Equatable {
    public let description: String
    /// The setting the error is about, if any, and what is wrong with it.
    public let setting: Setting?
    public let problem: String

    public init(_ description: String) {
        self.description = description
        setting = nil
        problem = description
    }

    private init(setting: Setting, problem: String) {
        description = "\(setting.words) \(problem)"
        self.setting = setting
        self.problem = problem
    }

    public static func file(_ path: String, _ problem: String) -> PatchRNNError {
        PatchRNNError("\(path): \(problem)")
    }

    /// "<setting> <problem>", e.g. .batchSize, "must be at least 1 (got 0)".
    public static func setting(_ setting: Setting, _ problem: String) -> PatchRNNError {
        PatchRNNError(setting: setting, problem: problem)
    }
}

/// The settings a user chooses, as the library names them in errors.
public enum Setting: String, Sendable, CaseIterable {
    case cell, hidden, layers, batchSize, shardSize, epochs, patience, lrPatience, learningRate, seed
    case validationFraction, trainLimit, threads, cores, steps, seconds, maxSteps, repeats, tile, tensorBoardImagesEvery
    case monitor, minDelta, sampling, samplingRamp, resumeEvery

    /// Plain words for messages of the library.
    public var words: String {
        switch self {
        case .batchSize: return "the batch size"
        case .shardSize: return "the shard size"
        case .lrPatience: return "the learning-rate patience"
        case .learningRate: return "the learning rate"
        case .validationFraction: return "the validation fraction"
        case .trainLimit: return "the training-image limit"
        case .threads: return "the number of threads"
        case .cores: return "the list of cores"
        case .hidden: return "the hidden size"
        case .maxSteps: return "the step limit"
        case .layers: return "the number of layers"
        case .minDelta: return "the minimum improvement"
        case .sampling: return "the scheduled-sampling probability"
        case .samplingRamp: return "the scheduled-sampling ramp"
        case .tensorBoardImagesEvery: return "the TensorBoard image interval (epochs)"
        case .resumeEvery: return "the resume-state interval (minutes)"
        default: return "the " + rawValue
        }
    }
}

/// A training step whose loss came out NaN or infinite (thrown by `TrainingEngine.step`, before
/// any update). The trainer turns it into a `PatchRNNError` that says what was saved before.
public struct NonFiniteLoss: Error, CustomStringConvertible {
    public let loss: Double
    /// The Adam step that failed (from 1).
    public let step: Int
    /// The first tensor with non-finite weights or gradient, as "name (weights)" or "name (gradient)".
    public let tensor: String?

    public var description: String {
        "the training loss became \(loss) at Adam step \(step)\(tensor.map { " (first non-finite values in \($0))" } ?? "")"
    }
}
