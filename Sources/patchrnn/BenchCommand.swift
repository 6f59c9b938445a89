import ArgumentParser
import Foundation
import PatchRNN

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training and generation throughput (synthetic data of MNIST's shape).",
        discussion: "Prints samples/s, achieved GFLOP/s, this machine's single-core GEMM peak measured in the same run, the fraction of it reached, where the step time goes (compute, reduce + Adam, waiting), and generation images/s. --scaling runs 1..N threads.")
    @OptionGroup var engine: EngineOptions
    @Option(help: "Minibatch size.") var batchSize: Int = 64
    @Option(help: "Seconds of timed training steps per configuration.") var seconds: Double = 3
    @Flag(help: "Measure every thread count from 1 to --threads (default all cores).") var scaling = false
    @Flag(help: "Print one JSON object (with --scaling, one per line).") var json = false

    func run() throws {
        try reportingErrors {
            guard batchSize >= 1 else { throw PatchRNNError("--batch-size must be at least 1 (got \(batchSize))") }
            guard seconds > 0 else { throw PatchRNNError("--seconds must be positive") }
            let reporter = ProgressReporter(quiet: engine.quiet || json)
            let pool = try engine.makePool(reporter: reporter)
            let peak = ThroughputBenchmark.measurePeak()
            var reports: [ThroughputReport] = []
            if scaling {
                let pus = pool.placement
                for n in 1...pool.count {
                    let sub = n == pool.count ? pool : WorkerPool(placement: Array(pus.prefix(n)), topology: try? Topology())
                    reports.append(try ThroughputBenchmark.run(pool: sub, batchSize: batchSize, shardSize: engine.shardSize, seconds: seconds, peak: peak))
                }
            } else {
                reports.append(try ThroughputBenchmark.run(pool: pool, batchSize: batchSize, shardSize: engine.shardSize, seconds: seconds, peak: peak))
            }
            if json {
                for r in reports {
                    let data = try JSONSerialization.data(withJSONObject: r.json, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                }
                return
            }
            print("single-core GEMM peak (510x512x512, packed, this run): \(fmt(peak, 1)) GFLOP/s; one training sample = \(fmt(ModelConfig.default.trainingFlopsPerSample / 1e6, 2)) MFLOP")
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
