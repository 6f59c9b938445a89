import Foundation

/// Where and how often a training run writes TensorBoard events (`--tensorboard DIR`,
/// `--tensorboard-images-every N`). Not part of `TrainingOptions`: it changes no result, and a
/// resumed run is given it again.
public struct TensorBoardSettings: Sendable, Equatable {
    public var directory: String
    /// The generated grid is written every this many epochs (epochs N, 2N, ...).
    public var imagesEvery: Int
    public static let defaultImagesEvery = 5

    /// - Parameters:
    ///   - directory: The folder for the event files (checked by `prepareDirectory()`).
    ///   - imagesEvery: The grid is drawn every this many epochs (and after the last).
    /// - Throws: `PatchRNNError` when the interval is not a number of epochs.
    public init(directory: String, imagesEvery: Int = TensorBoardSettings.defaultImagesEvery) throws {
        try TrainingOptions.check(.tensorBoardImagesEvery, imagesEvery, 1...TrainingOptions.limits.epochs)
        self.directory = directory
        self.imagesEvery = imagesEvery
    }

    /// Checks that the folder can be created and written, before any work.
    public func prepareDirectory() throws {
        try prepareOutputDirectory(directory, what: "TensorBoard folder")
    }
}

/// A training run's TensorBoard events, one new event file per run. The step of every event
/// is the epoch (from 1): per epoch the scalars `loss/train`, `loss/validation`,
/// `bottom_half_mse/validation` (free-running), `learning_rate` (the rate the epoch used) and
/// `samples_per_s`; every `imagesEvery` epochs and after the last epoch the image `samples`
/// (the 10x10 grid of samples.png drawn with that epoch's weights); at step 0 of a new run the
/// text `hyperparameters`. Each file first records a session start at the first step it will write,
/// so a resumed run continues in the same folder at the next epoch and TensorBoard drops
/// anything an earlier file holds from that step on: no step is shown twice.
public final class TensorBoardLog: TrainingObserver {
    public let settings: TensorBoardSettings
    package let writer: TensorBoardWriter
    let generator: Generator
    let test: PatchSet
    /// The first 10 test images of each class, row by row (the grid of samples.png).
    let gridIndices: [[Int]]

    /// Opens a new event file in the folder. `firstEpoch` is the epoch the run starts (or
    /// resumes) in; `generator` draws with the live weights; `test` supplies the grid's top halves.
    public init(
        _ settings: TensorBoardSettings, options: TrainingOptions, firstEpoch: Int,
        generator: Generator, test: PatchSet, reporter: ProgressReporter? = nil
    ) throws {
        self.settings = settings
        self.reporter = reporter
        self.generator = generator
        self.test = test
        gridIndices = (0..<10).map { Array(test.indices(ofClass: $0).prefix(10)) }
        writer = try TensorBoardWriter(directory: settings.directory)
        let now = Date().timeIntervalSince1970
        let startStep = firstEpoch > 1 ? firstEpoch : 0
        var events = [TensorBoardEvent.sessionStart(step: startStep, wallTime: now)]
        if startStep == 0 {
            events.append(TensorBoardEvent.text(tag: "hyperparameters", Self.markdown(options.summary()), step: 0, wallTime: now))
        }
        try writer.write(events)
    }

    /// Where a failure to write is reported (nil: it is thrown).
    var reporter: ProgressReporter?
    private var failed = false

    /// The events of one epoch, as a trainer's observer. The event files are an extra view of
    /// the run: with a reporter, a failure to write them (a full disk) is said once and
    /// training goes on; the checkpoint and the log are what matter.
    public func epochEnded(_ record: EpochRecord, progress: TrainingProgress, last: Bool) throws {
        guard !failed else { return }
        do { try self.record(record, last: last) } catch {
            guard let reporter else { throw error }
            reporter.info("warning: TensorBoard events are no longer written: \(error)")
            failed = true
        }
    }

    /// The events of one finished epoch (call with the epoch's weights still in the generator's
    /// parameters); `last`: the run's last epoch, which shows its grid whatever the interval.
    public func record(_ r: EpochRecord, last: Bool = false) throws {
        let now = Date().timeIntervalSince1970
        var values: [(tag: String, value: Float)] = [("loss/train", Float(r.trainLoss)), ("loss/validation", Float(r.valLoss))]
        if let b = r.valBottomMSE { values.append(("bottom_half_mse/validation", Float(b))) }
        values += [("learning_rate", Float(r.learningRate)), ("samples_per_s", Float(r.samplesPerSecond))]
        var events = [TensorBoardEvent.scalars(values, step: r.epoch, wallTime: now)]
        if r.epoch % settings.imagesEvery == 0 || last {
            let png = try gridPNG()
            let (width, height) = Self.pngSize(png)
            events.append(TensorBoardEvent.image(tag: "samples", png: png, width: width, height: height, step: r.epoch, wallTime: now))
        }
        try writer.write(events)
    }

    /// samples.png's grid (true top halves, generated bottom halves; row = digit) drawn with the
    /// generator's current weights.
    func gridPNG() throws -> [UInt8] {
        let generations = try gridIndices.enumerated().map { d, idx in
            ClassGeneration(digit: d, indices: idx, bottoms: try generator.bottomHalves(test, idx))
        }
        let (generated, _) = Results.sampleGrids(generations: generations, test: test, perClass: 10)
        return try digitGridPNG(images: generated, columns: 10, markBoundary: true)
    }

    /// Width and height from a PNG's IHDR chunk.
    static func pngSize(_ png: [UInt8]) -> (Int, Int) {
        func be32(_ o: Int) -> Int { png[o..<(o + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (be32(16), be32(20))
    }

    /// The hyper-parameters as a Markdown table (TensorBoard's text plugin renders Markdown).
    static func markdown(_ settings: [String: String]) -> String {
        "| setting | value |\n|---|---|\n"
            + settings.sorted { $0.key < $1.key }.map { "| \($0.key) | \($0.value) |" }.joined(separator: "\n")
    }
}
