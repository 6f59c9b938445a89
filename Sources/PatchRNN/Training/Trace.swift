/// `patchrnn trace`: the first Adam steps of a run, recorded for a side-by-side check with
/// another framework (scripts/compare/compare_pytorch.py replays them in PyTorch).
package enum Trace {
    /// trace.json: the settings the steps ran with (under the schema's keys, flat), then what
    /// they did.
    package struct File: Codable, Sendable {
        package var settings: TrainingOptions
        package var threads: Int
        package var steps: Int
        /// Training-set indices of every minibatch, in the order the steps used them.
        package var batches: [[Int]]
        /// The loss of each step, before its update.
        package var losses: [Double]

        enum CodingKeys: String, CodingKey { case threads, steps, batches, losses }

        package init(settings: TrainingOptions, threads: Int, steps: Int, batches: [[Int]], losses: [Double]) {
            self.settings = settings
            self.threads = threads
            self.steps = steps
            self.batches = batches
            self.losses = losses
        }

        package init(from decoder: any Decoder) throws {
            settings = try TrainingOptions(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            threads = try c.decode(Int.self, forKey: .threads)
            steps = try c.decode(Int.self, forKey: .steps)
            batches = try c.decode([[Int]].self, forKey: .batches)
            losses = try c.decode([Double].self, forKey: .losses)
        }

        package func encode(to encoder: any Encoder) throws {
            try settings.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(threads, forKey: .threads)
            try c.encode(steps, forKey: .steps)
            try c.encode(batches, forKey: .batches)
            try c.encode(losses, forKey: .losses)
        }
    }

    /// Writes init.safetensors (the initial weights) and trace.json for `steps` Adam steps of
    /// `options` (the learning-rate plateau rule off: the steps come before any validation),
    /// run by the same `TrainingJob` as training, writing nothing else.
    package static func record(
        dataDirectory: String?, outDirectory: String, options requested: TrainingOptions, steps: Int,
        pool: WorkerPool
    ) throws -> File {
        try TrainingOptions.check(.steps, steps, 1...10_000_000)
        try prepareOutputDirectory(outDirectory)
        try requested.validate()
        var options = requested
        options.lrPatience = 0
        options.patience = TrainingOptions.limits.patience  // no early stop before the steps are done
        // The replay (scripts/compare) is plain teacher forcing.
        options.monitor = .valLoss
        options.sampling = ScheduledSampling()
        let fileCount = try MNIST.check(directory: MNIST.resolveDirectory(dataDirectory), withTest: false)
        let trainCount = try TrainingJob.split(options, fileCount: fileCount).train.count
        options.maxEpochs = (steps * options.batchSize) / trainCount + 2
        let recorder = StepRecorder(steps: steps)
        var request = TrainingJob.Request(settings: options, dataDirectory: dataDirectory)
        request.loadsTestSet = false
        let job = try TrainingJob(request, pool: pool, reporter: ProgressReporter(quiet: true), observers: [recorder])
        try Safetensors.save(
            job.params, metadata: options.summary().merging(["step": "0"]) { $1 },
            to: outDirectory + "/" + OutputFiles.initialWeights)
        _ = try job.run()
        guard recorder.losses.count == steps else {
            throw PatchRNNError(
                "recorded only \(recorder.losses.count) of the \(steps) steps asked for (\(options.maxEpochs) epochs of \(trainCount) training sequences)"
            )
        }
        let file = File(settings: options, threads: pool.count, steps: steps, batches: recorder.batches, losses: recorder.losses)
        try writeFileAtomically(jsonText(file), to: outDirectory + "/" + OutputFiles.trace)
        return file
    }

    /// Every step's minibatch and loss, until `steps` are recorded.
    final class StepRecorder: TrainingObserver {
        let steps: Int
        var batches: [[Int]] = []
        var losses: [Double] = []
        init(steps: Int) { self.steps = steps }

        func stepEnded(step: Int, batch: UnsafeBufferPointer<Int>, loss: Double) -> Bool {
            batches.append(Array(batch))
            losses.append(loss)
            return step < steps
        }
    }
}
