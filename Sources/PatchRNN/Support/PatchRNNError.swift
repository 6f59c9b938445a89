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

/// A setting a user chooses, as errors name it: its key (the one spelling in every file the
/// project writes; the command line's flag is the key with dashes, `--batch-size`) and its
/// words for the library's messages ("the batch size").
public struct Setting: Hashable, Sendable, CustomStringConvertible {
    public let key: String
    public let words: String

    public init(_ key: String, _ words: String) {
        self.key = key
        self.words = words
    }

    /// The command-line flag: `batch_size` is `--batch-size`.
    public var flag: String { "--" + key.replacingOccurrences(of: "_", with: "-") }
    public var description: String { key }

    // The training settings are declared with their fields (`TrainingOptions.fields`).
    // Settings of how a job runs, not of what it computes.
    public static let threads = Setting("threads", "the number of threads")
    public static let cores = Setting("cores", "the list of cores")
    public static let steps = Setting("steps", "the number of steps")
    public static let seconds = Setting("seconds", "the seconds")
    public static let profileSteps = Setting("profile_steps", "the number of profiled steps")
    public static let profileImages = Setting("profile_images", "the number of profiled images")
    public static let maxSteps = Setting("max_steps", "the step limit")
    public static let repeats = Setting("repeats", "the repeats")
    public static let tile = Setting("tile", "the tile")
    public static let tensorBoardImagesEvery = Setting("tensorboard_images_every", "the TensorBoard image interval (epochs)")
    public static let resumeEvery = Setting("resume_every", "the resume-state interval (minutes)")
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
