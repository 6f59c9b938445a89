/// The names of the files the tool writes into its output folder (README, "Files").
package enum OutputFiles {
    package static let checkpoint = "model.safetensors"
    package static let log = "train-log.jsonl"
    package static let lossPlot = "loss.svg"
    package static let samples = "samples.png"
    package static let truth = "truth.png"
    package static let metrics = "metrics.json"
    package static let report = "report.html"
    package static let resume = "resume.safetensors"
    /// `trace`: the initial weights and the recorded steps.
    package static let initialWeights = "init.safetensors"
    package static let trace = "trace.json"

    package static let training = [checkpoint, log, lossPlot]
    package static let all = [checkpoint, log, lossPlot, samples, truth, metrics, report, resume, initialWeights, trace]
    package static let generation = [samples, truth, metrics, report]
}
