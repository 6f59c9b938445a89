import ArgumentParser
import Foundation
import PatchRNN

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training and generation throughput (synthetic data of MNIST's shape).",
        discussion: "Prints samples/s, achieved GFLOP/s, this machine's single-core GEMM peak measured in the same run, the fraction of it reached, where the step time goes (compute, reduce + Adam, waiting), and generation images/s. --scaling runs 1..N threads.")
    @OptionGroup var pool: PoolOptions
    @OptionGroup var step: StepOptions
    @OptionGroup var cell: CellOptions
    @Option(parsing: .unconditional, help: "Seconds of timed training steps per configuration.") var seconds: Double = 3
    @Flag(help: "Measure every thread count from 1 to --threads (default all cores).") var scaling = false
    @Flag(help: "Print one JSON object (with --scaling, one per line).") var json = false

    func run() throws {
        try reportingErrors {
            // The same checks as training: sizes, then memory (bench trains the default model).
            var options = TrainingOptions()
            options.model = ModelConfig(cell: try cell.resolved())
            options.shape = step.shape
            try options.validate()
            guard seconds.isFinite, seconds > 0, seconds <= 3600 else {
                throw PatchRNNError.setting(.seconds, "must be positive, at most 3600 (got \(seconds))")
            }
            let reporter = ProgressReporter(quiet: pool.quiet || json)
            let pool = try self.pool.makePool(reporter: reporter)
            try TrainingRun.checkMemory(options, workers: pool.count)
            let model = options.model, shape = options.shape
            let peak = ThroughputBenchmark.measurePeak()
            var reports: [ThroughputReport] = []
            if scaling {
                let pus = pool.placement
                for n in 1...pool.count {
                    let sub = n == pool.count ? pool : try WorkerPool(placement: Array(pus.prefix(n)), topology: try? Topology())
                    reports.append(try ThroughputBenchmark.run(pool: sub, batchSize: shape.batchSize, shardSize: shape.shardSize, model: model, seconds: seconds, peak: peak))
                }
            } else {
                reports.append(try ThroughputBenchmark.run(pool: pool, batchSize: shape.batchSize, shardSize: shape.shardSize, model: model, seconds: seconds, peak: peak))
            }
            if json {
                for r in reports { print(try jsonText(r, pretty: false), terminator: "") }
                return
            }
            print("single-core GEMM peak (510x512x512, packed, this run): \(fmt(peak, 1)) GFLOP/s; one training sample (\(model.cell.title)) = \(fmt(model.trainingFlopsPerSample / 1e6, 2)) MFLOP")
            print("threads  batch  samples/s   GFLOP/s  of peak  speed-up  step us  compute  reduce+Adam  wait   gen images/s")
            let base = reports.first?.samplesPerSecond ?? 1
            for r in reports {
                print([pad(r.threads, 7), pad(r.batchSize, 6), pad(Int(r.samplesPerSecond), 10), pad(fmt(r.gflops, 1), 9),
                       pad(fmt(100 * r.peakFraction, 1) + "%", 8), pad(fmt(r.samplesPerSecond / base, 2) + "x", 9),
                       pad(Int(r.stepMicroseconds), 8), pad(fmt(100 * r.computeFraction, 1) + "%", 8),
                       pad(fmt(100 * r.reduceUpdateFraction, 1) + "%", 12), pad(fmt(100 * r.waitFraction, 1) + "%", 6),
                       pad(Int(r.generationImagesPerSecond), 14)].joined(separator: " "))
            }
        }
    }

    func pad(_ v: Any, _ width: Int) -> String {
        let s = "\(v)"
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }
}
