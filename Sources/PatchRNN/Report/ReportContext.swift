import Foundation

/// What report.html shows besides the test generation: the training log (the curves), the
/// baselines when they were measured, and a checkpoint's own record of its settings.
public struct ReportContext: Sendable {
    /// One record per epoch; empty: the page has no curves.
    public var history: [EpochRecord]
    public var baselines: BaselineMetrics?
    /// The checkpoint's `__metadata__` (`TrainingOptions.summary`): the settings of a run the
    /// page was not written by (`generate`, `report`).
    public var checkpointMetadata: [String: String]

    public init(history: [EpochRecord] = [], baselines: BaselineMetrics? = nil, checkpointMetadata: [String: String] = [:]) {
        self.history = history
        self.baselines = baselines
        self.checkpointMetadata = checkpointMetadata
    }

    /// For a checkpoint file: its metadata and, when the train-log.jsonl of its run lies beside
    /// it, the curves. A log that cannot be read leaves the curves out and says why in `warning`.
    public static func forCheckpoint(_ path: String, metadata: [String: String]) -> (context: ReportContext, warning: String?) {
        var context = ReportContext(checkpointMetadata: metadata)
        let log = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(OutputFiles.log).path
        guard FileManager.default.fileExists(atPath: log) else { return (context, nil) }
        do {
            context.history = try TrainingLog.read(path: log)
            return (context, nil)
        } catch {
            return (context, "warning: \(error); the report has no training curves")
        }
    }
}

extension TrainingLog {
    /// The records of a train-log.jsonl (one JSON object per line, as `write` makes them).
    static func read(path: String) throws -> [EpochRecord] {
        let bytes = try readFileContents(path, limit: 1 << 30, what: "training log")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var records: [EpochRecord] = []
        for (n, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            guard let record = try? decoder.decode(EpochRecord.self, from: Data(line)) else {
                throw PatchRNNError.file(path, "line \(n + 1) is not an epoch record")
            }
            records.append(record)
        }
        return records
    }
}
