import ArgumentParser
import PatchRNN

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Record the first training steps for a side-by-side check with another framework.",
        discussion: """
            Writes init.safetensors (the initial weights, PyTorch layout) and trace.json (the \
            training-set indices of every minibatch, in the order patchrnn uses them, and the loss \
            of each step before its update) to --out, for the settings given. \
            scripts/compare-pytorch.sh equivalence replays them in PyTorch.
            """)
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var training: TrainOptions
    @OptionGroup var pool: PoolOptions
    @Option(parsing: .unconditional, help: "Number of Adam steps to record.") var steps: Int = 100

    func run() throws {
        try reportingErrors {
            let options = try training.options()
            try TrainingOptions.check(.steps, steps, 1...10_000_000)
            try MNIST.check(directory: MNIST.resolveDirectory(dataOptions.data), withTest: false)
            let lock = try OutputLock(claiming: output.out)
            defer { withExtendedLifetime(lock) {} }
            if let w = lock.warning { printError(w) }
            let workers = try pool.makePool(reporter: ProgressReporter(quiet: true))
            let trace = try Trace.record(
                dataDirectory: dataOptions.data, outDirectory: output.out, options: options,
                steps: steps, pool: workers)
            try printResult("Recorded \(trace.steps) steps: \(output.path(OutputFiles.initialWeights)), \(output.path(OutputFiles.trace))")
        }
    }
}
