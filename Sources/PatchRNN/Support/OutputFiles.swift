/// The names of the files the tool writes into its output folder (README, "Files").
public enum OutputFiles {
    public static let checkpoint = "model.safetensors"
    public static let log = "train-log.jsonl"
    public static let lossPlot = "loss.svg"
    public static let samples = "samples.png"
    public static let truth = "truth.png"
    public static let metrics = "metrics.json"
    public static let report = "report.html"
    public static let resume = "resume.safetensors"
    /// `trace`: the initial weights and the recorded steps.
    public static let initialWeights = "init.safetensors"
    public static let trace = "trace.json"

    public static let training = [checkpoint, log, lossPlot]
    public static let all = [checkpoint, log, lossPlot, samples, truth, metrics, report, resume, initialWeights, trace]
    public static let generation = [samples, truth, metrics, report]
}
