import ArgumentParser
import Foundation
import PatchRNN
import PatchRNNKernels

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training and generation throughput (synthetic data of MNIST's shape).",
        discussion:
            "Prints samples/s, achieved GFLOP/s, this machine's single-core GEMM peak measured in the same run (before and after the training steps; the better of the two), the fraction of it reached, where the step time goes (compute, reduce + Adam, waiting), and generation images/s. --scaling runs 1..N threads (--thread-counts a list of them), --repeats times in alternation, and prints the median with the range; each count is placed as --threads would place it. --calibrate measures the cost model's figures instead (scripts/cost-model.py). --tile both measures the SIMD8 and SIMD16 GEMM tiles alternately and prints their ratio."
    )
    @OptionGroup var pool: PoolOptions
    @OptionGroup var step: StepOptions
    @OptionGroup var cell: CellOptions
    @Option(parsing: .unconditional, help: "Seconds of timed training steps per configuration.") var seconds: Double = 3
    @Flag(help: "Measure every thread count from 1 to --threads (default all cores).") var scaling = false
    @Option(
        help: ArgumentHelp("Measure these thread counts, each at most --threads (e.g. 1,2,4,8,16; implies --scaling).", valueName: "list"))
    var threadCounts: String?
    @Flag(
        help:
            "Measure the cost model's figures (shard compute, weight packing, gradient-sum rate, hand-off round trip at each thread count) instead of training throughput."
    )
    var calibrate = false
    @Option(
        parsing: .unconditional, help: "Rounds of measurements (default 3 with --scaling, else 1); thread counts alternate within a round.")
    var repeats: Int?
    @Option(
        help: ArgumentHelp(
            "GEMM tile: auto (\(PanelFormat.preferred.name) on this CPU), simd8, simd16, or both (alternated, with their ratio).",
            valueName: "tile"))
    var tile = "auto"
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Time the steps with scheduled sampling at this feedback probability (default 0: teacher forcing).", valueName: "p"))
    var scheduledSampling: Double = 0
    @Flag(help: "Print one JSON object (with --scaling, one per line).") var json = false
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "For a profiler (perf record, valgrind --tool=callgrind): run exactly n training steps after 2 unmeasured ones, then generate --profile-images images, and nothing else (no GEMM peak, no timing).",
            valueName: "n"))
    var profileSteps: Int?
    @Option(
        parsing: .unconditional, help: ArgumentHelp("With --profile-steps: images to generate after the steps (default 0).", valueName: "n")
    )
    var profileImages: Int = 0
    @Flag(help: "Print the summary as a markdown table (scripts/scaling-report.sh).") var markdown = false
    @Option(help: ArgumentHelp("Also append every measurement to this file as a JSON line.", valueName: "file"))
    var record: String?

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
            let recorder = try record.map { path -> FileHandle in
                guard FileManager.default.fileExists(atPath: path) || FileManager.default.createFile(atPath: path, contents: nil),
                    let handle = FileHandle(forWritingAtPath: path)
                else {
                    throw PatchRNNError.file(path, "cannot be written")
                }
                handle.seekToEndOfFile()
                return handle
            }
            let reporter = ProgressReporter(quiet: pool.quiet || json)
            let pool = try self.pool.makePool(reporter: reporter)
            // Besides the engine: the synthetic training set (4 batches, at least 4,096 sequences)
            // and the 10,000 sequences generation runs on.
            let syntheticSequences = Double(max(4096, 4 * options.shape.batchSize) + 10_000)
            try TrainingJob.checkMemory(options, workers: pool.count, extraFloats: syntheticSequences * Double(PatchSet.sequenceLength))
            let model = options.model, shape = options.shape
            if let profileSteps {
                try TrainingOptions.check(.profileSteps, profileSteps, 0...1_000_000)
                try TrainingOptions.check(.profileImages, profileImages, 0...10_000)
                try ThroughputBenchmark.profile(
                    pool: pool, batchSize: shape.batchSize, shardSize: shape.shardSize, model: model,
                    steps: profileSteps, images: profileImages, format: tiles[0],
                    samplingProbability: scheduledSampling)
                try printResult("ran \(profileSteps) training steps and generated \(profileImages) images")
                return
            }
            let rounds = repeats ?? (scaling || threadCounts != nil || calibrate ? 3 : 1)
            try TrainingOptions.check(.repeats, rounds, 1...100)
            let counts = try self.counts(max: pool.count)
            if calibrate {
                return try runCalibration(pool: pool, counts: counts, rounds: rounds, model: model, format: tiles[0], recorder: recorder)
            }
            let placement = pool.placement.allSatisfy { $0 == nil } ? "unpinned" : self.pool.placement.rawValue
            struct Key: Hashable { let tile: String, threads: Int }
            // reports[key] holds every round's measurement with that tile and thread count.
            var reports: [Key: [ThroughputReport]] = [:]
            for _ in 0..<rounds {
                for n in counts {
                    // A pool of n workers placed as --threads n would place them (made and ended
                    // here, so pools on this thread end in the reverse order they were made).
                    let sub = n == pool.count ? pool : try self.pool.makePool(reporter: ProgressReporter(quiet: true), threads: n)
                    for format in tiles {
                        var r = try ThroughputBenchmark.run(
                            pool: sub, batchSize: shape.batchSize, shardSize: shape.shardSize, model: model,
                            seconds: seconds, format: format, samplingProbability: scheduledSampling)
                        r.placement = placement
                        reports[Key(tile: format.name, threads: n), default: []].append(r)
                        let line = try jsonText(r, pretty: false)
                        if json { try printResult(line, terminator: "") }
                        recorder?.write(Data(line.utf8))
                    }
                }
            }
            if json { return }
            func median(_ v: [Double]) -> Double {
                let s = v.sorted()
                return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
            }
            if markdown {
                // The header is two lines, so that tables of several runs can be joined (tail -n +3).
                try printResult(
                    "| cell | tile | placement | threads | batch | samples/s, median [min-max] | speed-up | step us | reduce + Adam | wait | reduce + Adam + wait | of peak |"
                )
                try printResult("|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
                for format in tiles {
                    let base = median(reports[Key(tile: format.name, threads: counts[0])]!.map(\.samplesPerSecond))
                    for n in counts {
                        let rs = reports[Key(tile: format.name, threads: n)]!
                        let sps = rs.map(\.samplesPerSecond)
                        let m = { (key: KeyPath<ThroughputReport, Double>) in median(rs.map { $0[keyPath: key] }) }
                        let percent = { (v: Double) in fmt(100 * v, 1) + "%" }
                        try printResult(
                            "| \(model.cellName) | \(format.name) | \(placement) | \(n) | \(shape.batchSize) | \(Int(median(sps))) [\(Int(sps.min()!))-\(Int(sps.max()!))] | "
                                + "\(fmt(median(sps) / base, 2))x | \(Int(m(\.stepMicroseconds))) | \(percent(m(\.reduceUpdateFraction))) | \(percent(m(\.waitFraction))) | "
                                + "\(percent(median(rs.map { $0.reduceUpdateFraction + $0.waitFraction }))) | \(percent(m(\.peakFraction))) |"
                        )
                    }
                }
                return
            }
            if pool.isOversubscribed { try printResult(PoolOptions.oversubscribedWarning(pool)) }
            try printResult(
                "one training sample (\(model.cell.title)) = \(fmt(model.trainingFlopsPerSample / 1e6, 2)) MFLOP, one generated image \(fmt(model.generationFlopsPerImage / 1e6, 2)) MFLOP; CPU AVX-512: \(PanelFormat.cpuHasAVX512 ? "yes" : "no"), default tile: \(PanelFormat.preferred.name); generation: \(GenerationWorkspace.stepDescription(model.cell))\(scheduledSampling > 0 ? "; steps with scheduled sampling, p = \(scheduledSampling)" : "")"
            )
            for format in tiles {
                let peaks = reports.filter { $0.key.tile == format.name }.values.flatMap { $0 }.map(\.peakGflops)
                try printResult(
                    "single-core GEMM peak, \(format.name) tile (504x512x512, packed, best of before and after each measurement): \(fmt(peaks.min() ?? 0, 1))-\(fmt(peaks.max() ?? 0, 1)) GFLOP/s"
                )
            }
            if rounds > 1 {
                try printResult(
                    "medians of \(rounds) alternated rounds, [min-max] samples/s; speed-up of the medians over 1 thread of the same tile")
            }
            try printResult(
                "tile    threads  batch  samples/s               GFLOP/s  of peak  speed-up  step us  compute  reduce+Adam  wait   gen images/s  of peak"
            )
            for format in tiles {
                let base = median(reports[Key(tile: format.name, threads: counts[0])]!.map(\.samplesPerSecond))
                for n in counts {
                    let rs = reports[Key(tile: format.name, threads: n)]!
                    let sps = rs.map(\.samplesPerSecond)
                    let m = { (key: KeyPath<ThroughputReport, Double>) in median(rs.map { $0[keyPath: key] }) }
                    let spread = rounds > 1 ? " [\(Int(sps.min()!))-\(Int(sps.max()!))]" : ""
                    try printResult(
                        [
                            format.name.padding(toLength: 6, withPad: " ", startingAt: 0), pad(n, 7), pad(shape.batchSize, 6),
                            pad("\(Int(median(sps)))\(spread)", 22), pad(fmt(m(\.gflops), 1), 9),
                            pad(fmt(100 * m(\.peakFraction), 1) + "%", 8), pad(fmt(median(sps) / base, 2) + "x", 9),
                            pad(Int(m(\.stepMicroseconds)), 8), pad(fmt(100 * m(\.computeFraction), 1) + "%", 8),
                            pad(fmt(100 * m(\.reduceUpdateFraction), 1) + "%", 12), pad(fmt(100 * m(\.waitFraction), 1) + "%", 6),
                            pad(Int(m(\.generationImagesPerSecond)), 14), pad(fmt(100 * m(\.generationPeakFraction), 1) + "%", 8),
                        ].joined(separator: " "))
                }
            }
            if tiles.count == 2 {
                // Each round measured both tiles back to back: the ratio of the medians.
                for n in counts {
                    let r8 = reports[Key(tile: "simd8", threads: n)]!, r16 = reports[Key(tile: "simd16", threads: n)]!
                    try printResult(
                        "simd16 / simd8 at \(n) thread(s): training \(fmt(median(r16.map(\.samplesPerSecond)) / median(r8.map(\.samplesPerSecond)), 2))x, generation \(fmt(median(r16.map(\.generationImagesPerSecond)) / median(r8.map(\.generationImagesPerSecond)), 2))x"
                    )
                }
            }
        }
    }

    /// The thread counts to measure: --thread-counts, 1...max with --scaling, else max alone.
    func counts(max: Int) throws -> [Int] {
        guard let threadCounts else { return scaling || calibrate ? Array(1...max) : [max] }
        let counts = try threadCounts.split(separator: ",").map { item -> Int in
            guard let n = Int(item.trimmingCharacters(in: .whitespaces)), n >= 1, n <= max else {
                throw PatchRNNError("--thread-counts: '\(item)' is not a number from 1 to the \(max) worker(s) of --threads")
            }
            return n
        }
        guard !counts.isEmpty, Set(counts).count == counts.count else {
            throw PatchRNNError("--thread-counts must name at least one count, each once")
        }
        return counts
    }

    /// --calibrate: the cost model's figures, `rounds` times, as JSON lines or a table of ranges.
    func runCalibration(pool: WorkerPool, counts: [Int], rounds: Int, model: ModelConfig, format: PanelFormat, recorder: FileHandle?) throws
    {
        var results: [CostCalibration] = []
        for _ in 0..<rounds {
            let one = try self.pool.makePool(reporter: ProgressReporter(quiet: true), threads: 1)
            let c = try CostCalibrationBenchmark.run(
                onePool: one, handOffWorkers: counts,
                makePool: { n in n == pool.count ? pool : try self.pool.makePool(reporter: ProgressReporter(quiet: true), threads: n) },
                model: model, seconds: seconds, format: format)
            results.append(c)
            let line = try jsonText(c, pretty: false)
            if json { try printResult(line, terminator: "") }
            recorder?.write(Data(line.utf8))
        }
        if json { return }
        func range(_ v: [Double], _ digits: Int) -> String {
            let lo = v.min() ?? 0, hi = v.max() ?? 0
            return lo == hi ? fmt(lo, digits) : "\(fmt(lo, digits))-\(fmt(hi, digits))"
        }
        try printResult(
            "cost model figures, \(model.cell.title) (\(results[0].parameters) floats), \(format.name) tile, \(rounds) round(s) (ranges):")
        for (i, s) in results[0].shards.enumerated() {
            try printResult(
                "  shard of \(s.size): \(range(results.map { $0.shards[i].microseconds }, 1)) us forward + backward on one core (workspace \(s.workspaceBytes / 1024) KiB per worker)"
            )
        }
        try printResult("  weight packing: \(range(results.map(\.packMicroseconds), 1)) us per busy worker per step")
        try printResult("  gradient sum + Adam: \(range(results.map { $0.sumBytesPerSecond / 1e9 }, 1)) GB/s on one core")
        for (i, h) in results[0].handOffs.enumerated() {
            try printResult("  hand-off round trip, \(h.workers) worker(s): \(range(results.map { $0.handOffs[i].microseconds }, 3)) us")
        }
        if results.contains(where: \.oversubscribed) { try printResult(PoolOptions.oversubscribedWarning(pool)) }
    }

    func pad(_ v: Any, _ width: Int) -> String {
        let s = "\(v)"
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }
}
