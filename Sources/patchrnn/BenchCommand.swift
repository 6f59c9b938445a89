import ArgumentParser
import Foundation
import PatchRNN
import PatchRNNKernels

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training and generation throughput (synthetic data of MNIST's shape).",
        discussion: "Prints samples/s, achieved GFLOP/s, this machine's single-core GEMM peak measured in the same run (before and after the training steps; the better of the two), the fraction of it reached, where the step time goes (compute, reduce + Adam, waiting), and generation images/s. --scaling runs 1..N threads, --repeats times in alternation, and prints the median with the range. --tile both measures the SIMD8 and SIMD16 GEMM tiles alternately and prints their ratio.")
    @OptionGroup var pool: PoolOptions
    @OptionGroup var step: StepOptions
    @OptionGroup var cell: CellOptions
    @Option(parsing: .unconditional, help: "Seconds of timed training steps per configuration.") var seconds: Double = 3
    @Flag(help: "Measure every thread count from 1 to --threads (default all cores).") var scaling = false
    @Option(parsing: .unconditional, help: "Rounds of measurements (default 3 with --scaling, else 1); thread counts alternate within a round.")
    var repeats: Int?
    @Option(help: ArgumentHelp("GEMM tile: auto (\(PanelFormat.preferred.name) on this CPU), simd8, simd16, or both (alternated, with their ratio).", valueName: "tile"))
    var tile = "auto"
    @Option(parsing: .unconditional, help: ArgumentHelp("Time the steps with scheduled sampling at this feedback probability (default 0: teacher forcing).", valueName: "p"))
    var scheduledSampling: Double = 0
    @Flag(help: "Print one JSON object (with --scaling, one per line).") var json = false

    /// The tiles to measure, in the order they alternate.
    func tiles() throws -> [PanelFormat] {
        switch tile {
        case "auto": return [.preferred]
        case "both": return PanelFormat.all
        default:
            guard let format = PanelFormat.named(tile) else {
                throw PatchRNNError.setting(.tile, "must be auto, simd8, simd16 or both (got '\(tile)')")
            }
            return [format]
        }
    }

    func run() throws {
        try reportingErrors {
            // The same checks as training: sizes, then memory (bench trains the default model).
            var options = TrainingOptions()
            options.model = ModelConfig(cell: try cell.resolved())
            options.shape = step.shape
            options.sampling.maxProbability = scheduledSampling
            try options.validate()
            guard seconds.isFinite, seconds > 0, seconds <= 3600 else {
                throw PatchRNNError.setting(.seconds, "must be positive, at most 3600 (got \(seconds))")
            }
            let tiles = try self.tiles()
            let reporter = ProgressReporter(quiet: pool.quiet || json)
            let pool = try self.pool.makePool(reporter: reporter)
            // Besides the engine: the synthetic training set (4 batches, at least 4,096 sequences)
            // and the 10,000 sequences generation runs on.
            let syntheticSequences = Double(max(4096, 4 * options.shape.batchSize) + 10_000)
            try TrainingRun.checkMemory(options, workers: pool.count, extraFloats: syntheticSequences * Double(PatchSet.sequenceLength))
            let model = options.model, shape = options.shape
            let rounds = repeats ?? (scaling ? 3 : 1)
            try TrainingOptions.check(.repeats, rounds, 1...100)
            let counts = scaling ? Array(1...pool.count) : [pool.count]
            struct Key: Hashable { let tile: String, threads: Int }
            // reports[key] holds every round's measurement with that tile and thread count.
            var reports: [Key: [ThroughputReport]] = [:]
            for _ in 0..<rounds {
                for n in counts {
                    // A pool of the first n placements (made and ended here, so pools on this
                    // thread end in the reverse order they were made).
                    let sub = n == pool.count ? pool : try WorkerPool(placement: Array(pool.placement.prefix(n)), topology: try? Topology())
                    for format in tiles {
                        let r = try ThroughputBenchmark.run(pool: sub, batchSize: shape.batchSize, shardSize: shape.shardSize, model: model,
                                                            seconds: seconds, format: format, samplingProbability: scheduledSampling)
                        reports[Key(tile: format.name, threads: n), default: []].append(r)
                        if json { try printResult(jsonText(r, pretty: false), terminator: "") }
                    }
                }
            }
            if json { return }
            try printResult("one training sample (\(model.cell.title)) = \(fmt(model.trainingFlopsPerSample / 1e6, 2)) MFLOP; CPU AVX-512: \(PanelFormat.cpuHasAVX512 ? "yes" : "no"), default tile: \(PanelFormat.preferred.name)\(scheduledSampling > 0 ? "; steps with scheduled sampling, p = \(scheduledSampling)" : "")")
            for format in tiles {
                let peaks = reports.filter { $0.key.tile == format.name }.values.flatMap { $0 }.map(\.peakGflops)
                try printResult("single-core GEMM peak, \(format.name) tile (504x512x512, packed, best of before and after each measurement): \(fmt(peaks.min() ?? 0, 1))-\(fmt(peaks.max() ?? 0, 1)) GFLOP/s")
            }
            if rounds > 1 { try printResult("medians of \(rounds) alternated rounds, [min-max] samples/s; speed-up of the medians over 1 thread of the same tile") }
            try printResult("tile    threads  batch  samples/s               GFLOP/s  of peak  speed-up  step us  compute  reduce+Adam  wait   gen images/s")
            func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
            for format in tiles {
                let base = median(reports[Key(tile: format.name, threads: counts[0])]!.map(\.samplesPerSecond))
                for n in counts {
                    let rs = reports[Key(tile: format.name, threads: n)]!
                    let sps = rs.map(\.samplesPerSecond)
                    let m = { (key: KeyPath<ThroughputReport, Double>) in median(rs.map { $0[keyPath: key] }) }
                    let spread = rounds > 1 ? " [\(Int(sps.min()!))-\(Int(sps.max()!))]" : ""
                    try printResult([format.name.padding(toLength: 6, withPad: " ", startingAt: 0), pad(n, 7), pad(shape.batchSize, 6),
                           pad("\(Int(median(sps)))\(spread)", 22), pad(fmt(m(\.gflops), 1), 9),
                           pad(fmt(100 * m(\.peakFraction), 1) + "%", 8), pad(fmt(median(sps) / base, 2) + "x", 9),
                           pad(Int(m(\.stepMicroseconds)), 8), pad(fmt(100 * m(\.computeFraction), 1) + "%", 8),
                           pad(fmt(100 * m(\.reduceUpdateFraction), 1) + "%", 12), pad(fmt(100 * m(\.waitFraction), 1) + "%", 6),
                           pad(Int(m(\.generationImagesPerSecond)), 14)].joined(separator: " "))
                }
            }
            if tiles.count == 2 {
                // Each round measured both tiles back to back: the ratio of the medians.
                for n in counts {
                    let r8 = reports[Key(tile: "simd8", threads: n)]!, r16 = reports[Key(tile: "simd16", threads: n)]!
                    try printResult("simd16 / simd8 at \(n) thread(s): training \(fmt(median(r16.map(\.samplesPerSecond)) / median(r8.map(\.samplesPerSecond)), 2))x, generation \(fmt(median(r16.map(\.generationImagesPerSecond)) / median(r8.map(\.generationImagesPerSecond)), 2))x")
                }
            }
        }
    }

    func pad(_ v: Any, _ width: Int) -> String {
        let s = "\(v)"
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }
}
