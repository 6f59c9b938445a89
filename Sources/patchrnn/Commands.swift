import ArgumentParser
import Foundation
import PatchRNN

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a model; write model.safetensors, train-log.jsonl and loss.svg to --out.")
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var training: TrainOptions
    @OptionGroup var engine: EngineOptions

    func run() throws {
        let group = try startProcessGroup()
        try reportingErrors(group: group) {
            let reporter = ProgressReporter(quiet: engine.quiet || !group.isRoot)
            let pool = try engine.makePool(reporter: reporter, group: group)
            let o = try Pipeline.train(dataDirectory: dataOptions.data, outDirectory: output.out,
                                       options: training.options(shardSize: engine.shardSize), pool: pool, reporter: reporter,
                                       resume: training.resume, group: group, exchange: engine.mpiExchange)
            guard group.isRoot else { return }
            print("Trained \(o.result.history.count) epochs in \(fmt(o.result.trainSeconds, 1)) s; best val_loss \(fmt(o.result.bestValLoss, 5)) at epoch \(o.result.bestEpoch)")
            print("Wrote:\n  \(output.out)/\(Pipeline.checkpointName)\n  \(output.out)/\(Pipeline.logName)\n  \(output.out)/\(Pipeline.lossPlotName)")
        }
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train, then generate: the whole job (the default command).",
        discussion: "Writes model.safetensors, train-log.jsonl, loss.svg, samples.png (true top halves, generated bottom halves), truth.png (the same digits as they are) and metrics.json to --out.")
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var training: TrainOptions
    @OptionGroup var engine: EngineOptions

    func run() throws {
        let group = try startProcessGroup()
        try reportingErrors(group: group) {
            let reporter = ProgressReporter(quiet: engine.quiet || !group.isRoot)
            let pool = try engine.makePool(reporter: reporter, group: group)
            let o = try Pipeline.train(dataDirectory: dataOptions.data, outDirectory: output.out,
                                       options: training.options(shardSize: engine.shardSize), pool: pool, reporter: reporter,
                                       resume: training.resume, group: group, exchange: engine.mpiExchange)
            guard group.isRoot else { return }  // generation runs on rank 0; the others are done
            let extra: [String: Any] = [
                "best_val_loss": o.result.bestValLoss, "epochs": o.result.history.count, "best_epoch": o.result.bestEpoch,
                "train_seconds": o.result.trainSeconds, "threads": pool.count, "processes": group.size, "batch_size": training.batchSize,
                "seed": training.seed, "learning_rate": Double("\(training.learningRate)") ?? Double(training.learningRate), "hidden": training.hidden,
                "layers": training.layers, "stopped_early": o.result.stoppedEarly]
            let (metrics, _) = try Pipeline.generateResults(params: o.params, test: o.data.test, pool: pool,
                                                            outDirectory: output.out, extra: extra)
            print("Trained \(o.result.history.count) epochs in \(fmt(o.result.trainSeconds, 1)) s on \(pool.count) thread(s); best val_loss \(fmt(o.result.bestValLoss, 5)) at epoch \(o.result.bestEpoch)")
            print(Pipeline.summary(metrics, files: ["model.safetensors", "train-log.jsonl", "loss.svg", "samples.png", "truth.png", "metrics.json"].map { "\(output.out)/\($0)" }), terminator: "")
        }
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate the bottom halves of the test digits from a checkpoint; write samples.png, truth.png and metrics.json.")
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "A safetensors checkpoint (PatchRNN's or a PyTorch state_dict saved as safetensors).")
    var checkpoint: String
    @OptionGroup var engine: EngineOptions

    func run() throws {
        try reportingErrors {
            let reporter = ProgressReporter(quiet: engine.quiet)
            try prepareOutputDirectory(output.out)
            let (params, _) = try Safetensors.load(path: checkpoint)
            let test = try loadTest(dataOptions.data)
            let pool = try engine.makePool(reporter: reporter)
            let (metrics, _) = try Pipeline.generateResults(params: params, test: test, pool: pool, outDirectory: output.out,
                                                            extra: ["checkpoint": checkpoint, "threads": pool.count])
            print(Pipeline.summary(metrics, files: ["samples.png", "truth.png", "metrics.json"].map { "\(output.out)/\($0)" }), terminator: "")
        }
    }
}

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate", abstract: "Test-set metrics of a checkpoint (free-running bottom-half MSE per class, teacher-forced MSE).")
    @OptionGroup var dataOptions: DataOptions
    @Option(help: "A safetensors checkpoint.") var checkpoint: String
    @Flag(help: "Print the metrics as one JSON object on standard output.") var json = false
    @OptionGroup var engine: EngineOptions

    func run() throws {
        try reportingErrors {
            let reporter = ProgressReporter(quiet: engine.quiet || json)
            let (params, _) = try Safetensors.load(path: checkpoint)
            let test = try loadTest(dataOptions.data)
            let pool = try engine.makePool(reporter: reporter)
            let (metrics, object) = try Pipeline.generateResults(params: params, test: test, pool: pool, outDirectory: nil, extra: nil)
            if json { print(try Pipeline.jsonText(object), terminator: "") } else { print(Pipeline.summary(metrics, files: []), terminator: "") }
        }
    }
}

struct TopologyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology", abstract: "Show the machine as hwloc sees it and where the workers would be placed.")
    @Option(help: "Workers to place (default: all cores).") var threads: Int?
    @Flag(help: "Allow SMT siblings once every physical core has a worker.") var smt = false

    func run() throws {
        let group = try startProcessGroup()
        try reportingErrors(group: group) {
            let topology = try Topology()
            let n = threads ?? topology.cores.count
            let placement = try topology.placement(workers: n, smt: smt)
            var text = group.isRoot ? topology.summary + "\n" : ""
            if group.size > 1 { text += "\(group.label): may use \(topology.cores.count) core(s); " }
            text += "placement for \(n) worker(s): " + placement.enumerated().map { i, pu in
                let c = topology.core(ofPU: pu)
                return "w\(i)->PU \(pu) (core \(c?.index ?? -1), NUMA \(c?.numaNode ?? -1), L3 \(c?.l3Group ?? -1))"
            }.joined(separator: ", ")
            // Rank 0 prints every rank's lines, in rank order.
            if let all = try group.gather(text) { print(all.joined(separator: "\n")) }
        }
    }
}

func loadTest(_ data: String?) throws -> PatchSet {
    let dir = MNIST.resolveDirectory(data)
    let f = MNIST.files
    guard let images = ["\(dir)/\(f.testImages).gz", "\(dir)/\(f.testImages)"].first(where: { FileManager.default.fileExists(atPath: $0) }) else {
        throw PatchRNNError.file("\(dir)/\(f.testImages).gz", "no such file; pass --data DIR or run scripts/fetch-mnist.sh")
    }
    guard let labels = ["\(dir)/\(f.testLabels).gz", "\(dir)/\(f.testLabels)"].first(where: { FileManager.default.fileExists(atPath: $0) }) else {
        throw PatchRNNError.file("\(dir)/\(f.testLabels).gz", "no such file; pass --data DIR or run scripts/fetch-mnist.sh")
    }
    return try MNIST.loadPair(images: images, labels: labels)
}

func printError(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Record the first training steps for a side-by-side check with another framework.",
        discussion: """
        Writes init.safetensors (the initial weights, PyTorch layout) and trace.json (the \
        training-set indices of every minibatch, in the order patchrnn uses them, and the loss \
        of each step before its update) to --out, for the settings given. \
        scripts/compare_pytorch.py equivalence replays them in PyTorch.
        """)
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var training: TrainOptions
    @OptionGroup var engine: EngineOptions
    @Option(help: "Number of Adam steps to record.") var steps: Int = 100

    func run() throws {
        try reportingErrors {
            guard steps >= 1 else { throw PatchRNNError("--steps must be at least 1 (got \(steps))") }
            let reporter = ProgressReporter(quiet: true)
            try prepareOutputDirectory(output.out)
            var options = training.options(shardSize: engine.shardSize)
            options.lrPatience = 0
            let mnist = try MNIST.load(directory: MNIST.resolveDirectory(dataOptions.data))
            var train = mnist.train
            if let limit = options.trainLimit, limit < train.count { train = train.subset(Array(0..<limit)) }
            let split = Split(count: train.count, validationFraction: options.validationFraction, seed: options.seed)
            try options.validate(trainCount: split.train.count)
            let params = Parameters.initialized(options.model, seed: options.seed)
            try Safetensors.save(params, metadata: ["seed": "\(options.seed)", "step": "0"], to: output.out + "/init.safetensors")
            let pool = try engine.makePool(reporter: reporter)
            let engineState = try TrainingEngine(params: params, adamConfig: AdamConfig(learningRate: options.learningRate),
                                                 pool: pool, shardSize: options.shardSize, maxBatch: options.batchSize)
            options.maxEpochs = (steps * options.batchSize) / split.train.count + 2
            let trainer = Trainer(options: options, engine: engineState, data: train, split: split, reporter: reporter)
            var batches: [[Int]] = [], losses: [Double] = []
            let wanted = steps
            trainer.onStep = { step, batch, loss in
                batches.append(Array(batch))
                losses.append(loss)
                return step < wanted
            }
            _ = try trainer.train()
            let trace: [String: Any] = ["batch_size": options.batchSize, "seed": Int(options.seed),
                                        "learning_rate": Double("\(options.learningRate)") ?? 0,
                                        "hidden": options.model.hidden, "layers": options.model.layers,
                                        "threads": pool.count, "steps": losses.count,
                                        "batches": batches, "losses": losses]
            try writeFileAtomically(Pipeline.jsonText(trace), to: output.out + "/trace.json")
            print("Recorded \(losses.count) steps: \(output.out)/init.safetensors, \(output.out)/trace.json")
        }
    }
}
