/// The outputs of generation: the test metrics, the sample grids, metrics.json and report.html.
public enum Results {
    /// Generates every test digit's bottom half and measures the errors; with `outDirectory`,
    /// writes samples.png (true top + generated bottom), truth.png (the same 100 digits as they
    /// are) and, when `run` is given, metrics.json (the test metrics and `run`) and report.html
    /// (all of it, with `report`'s curves and baselines: `ReportPage`).
    /// - Parameters:
    ///   - params: The model.
    ///   - test: The test images.
    ///   - pool: The workers that generate.
    ///   - outDirectory: Where the files go (nil: none are written, the metrics are returned).
    ///   - run: How the model came about (`TrainingJob.runInfo`), for metrics.json and the report.
    ///   - classNames: The data set's names of the classes, if it has them.
    ///   - report: The training curves and baselines for report.html.
    /// - Returns: The test metrics: the free-running bottom-half MSE per class and overall, and
    ///   the teacher-forced MSE.
    /// - Throws: `PatchRNNError` when memory or a file write fails.
    public static func generate(
        params: Parameters, test: PatchSet, pool: WorkerPool, outDirectory: String?,
        run: RunInfo?, classNames: [String]? = nil, report: ReportContext = ReportContext()
    ) throws -> TestMetrics {
        let (metrics, generations) = try measure(params: params, test: test, pool: pool, classNames: classNames)
        if let outDirectory {
            try prepareOutputDirectory(outDirectory)
            let (generated, truth) = sampleGrids(generations: generations, test: test, perClass: 10)
            try writeFileAtomically(
                digitGridPNG(images: generated, columns: 10, markBoundary: true), to: outDirectory + "/" + OutputFiles.samples)
            try writeFileAtomically(
                digitGridPNG(images: truth, columns: 10, markBoundary: true), to: outDirectory + "/" + OutputFiles.truth)
            if let run {
                try writeFileAtomically(jsonText(MetricsFile(test: metrics, run: run)), to: outDirectory + "/" + OutputFiles.metrics)
                try ReportPage.write(
                    to: outDirectory, params: params, metrics: metrics, generations: generations, test: test, run: run, context: report)
            }
        }
        return metrics
    }

    /// `patchrnn report`: the same generation and measurements, and report.html alone; with the
    /// page's size and the seconds its writing took (what it adds to `run` and `generate`).
    package static func report(
        params: Parameters, test: PatchSet, pool: WorkerPool, outDirectory: String,
        run: RunInfo, classNames: [String]? = nil, report: ReportContext
    ) throws
        -> (metrics: TestMetrics, bytes: Int, seconds: Double)
    {
        let (metrics, generations) = try measure(params: params, test: test, pool: pool, classNames: classNames)
        try prepareOutputDirectory(outDirectory)
        let start = monotonicSeconds()
        let bytes = try ReportPage.write(
            to: outDirectory, params: params, metrics: metrics, generations: generations, test: test, run: run, context: report)
        return (metrics, bytes, monotonicSeconds() - start)
    }

    private static func measure(params: Parameters, test: PatchSet, pool: WorkerPool, classNames: [String]?) throws
        -> (TestMetrics, [ClassGeneration])
    {
        let evaluator = try LossEvaluator(params: params, pool: pool)
        let generator = try Generator(params: params, pool: pool)
        var (metrics, generations) = try evaluateTestSet(generator: generator, evaluator: evaluator, test: test)
        metrics.classNames = classNames
        return (metrics, generations)
    }

    /// The first `perClass` test digits of each class: generated (true top, generated bottom)
    /// and real, as 28x28 images in [0, 1], row-major by class.
    static func sampleGrids(generations: [ClassGeneration], test: PatchSet, perClass: Int) -> ([[Float]], [[Float]]) {
        let top = Patches.topHalf * Patches.patchSize, bottom = PatchSet.sequenceLength - top
        var generated: [[Float]] = [], truth: [[Float]] = []
        for g in generations {
            for j in 0..<min(perClass, g.indices.count) {
                let real = Array(UnsafeBufferPointer(start: test.sequence(g.indices[j]), count: PatchSet.sequenceLength))
                let fake = Array(real[0..<top]) + Array(UnsafeBufferPointer(start: g.bottoms.pointer + j * bottom, count: bottom))
                generated.append(Patches.toImage(fake.map { max(0, min(1, $0)) }))
                truth.append(Patches.toImage(real))
            }
        }
        return (generated, truth)
    }

    /// The summary printed at the end of `run`, `generate` and `evaluate`.
    /// - Parameters:
    ///   - m: The test metrics.
    ///   - files: The files written, listed at the end.
    /// - Returns: The per-class table and the totals, as lines of text.
    public static func summary(_ m: TestMetrics, files: [String]) -> String {
        func column(_ v: Int) -> String { String(v).padding(toLength: 8, withPad: " ", startingAt: 0) }
        var s = "Test set (\(m.perClassCount.reduce(0, +)) images), bottom half generated from the top half:\n"
        let names = (0..<m.perClassBottomMSE.count).map { c in m.classNames.map { "\(c) \($0[c])" } ?? "\(c)" }
        let width = max(8, (names.map(\.count).max() ?? 0) + 2)
        s += "  " + "class".padding(toLength: width, withPad: " ", startingAt: 0) + "images   bottom-half MSE\n"
        for c in 0..<m.perClassBottomMSE.count {
            s +=
                "  " + names[c].padding(toLength: width, withPad: " ", startingAt: 0)
                + "\(column(m.perClassCount[c])) \(m.perClassBottomMSE[c].map { fmt($0, 5) } ?? "-")\n"
        }
        s +=
            "  " + "all".padding(toLength: width, withPad: " ", startingAt: 0)
            + "\(column(m.perClassCount.reduce(0, +))) \(fmt(m.testFreeRunningBottomMSE, 5))   (free-running)\n"
        s += "  teacher-forced test MSE (all 15 steps): \(fmt(m.testTeacherForcedMSE, 5))\n"
        s += "  generation of all test images: \(fmt(m.generationSeconds, 3)) s\n"
        if !files.isEmpty { s += "Wrote:\n" + files.map { "  " + $0 }.joined(separator: "\n") + "\n" }
        return s
    }
}
