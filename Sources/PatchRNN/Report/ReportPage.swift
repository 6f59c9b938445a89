import Foundation

/// report.html: one self-contained page (no network, no server: the style, the script, the
/// data and the model's weights are all inside it) with a run's settings and results, the
/// per-class table, the loss curves, the 10x10 grid generated beside true, the best and
/// worst completions of each class, and a live panel where the page runs the model itself
/// (report.js, a second implementation of `GenerationWorkspace`'s generation) to complete a
/// top half drawn by hand. docs/report.md says how it is built and tested.
package enum ReportPage {
    /// The page for `params`, whose generation of every test image is `generations`.
    static func html(
        params: Parameters, metrics: TestMetrics, generations: [ClassGeneration], test: PatchSet,
        run: RunInfo, context: ReportContext, written: Date = Date()
    ) throws -> String {
        let config = params.config
        let examples = ReportExamples(generations: generations, test: test)
        let info = run.filled(fromCheckpoint: context.checkpointMetadata, history: context.history)
        let names = (0..<metrics.perClassCount.count).map { c in metrics.classNames?[c] ?? "\(c)" }
        let model = "\(config.cell.title) \(config.layers)\u{00D7}\(config.hidden)"
        var subtitle = "\(model) \u{00B7} \(grouped(metrics.perClassCount.reduce(0, +))) test images"
        if let epochs = info.epochsTrained { subtitle += " \u{00B7} \(epochs) epochs\(info.bestEpoch.map { ", kept \($0)" } ?? "")" }
        subtitle += " \u{00B7} written \(timestamp(written))"
        let b = context.baselines
        let data = ReportData(
            title: "PatchRNN report: \(model)", subtitle: subtitle,
            headline: .init(
                freeRunningMSE: metrics.testFreeRunningBottomMSE, teacherForcedMSE: metrics.testTeacherForcedMSE,
                testImages: metrics.perClassCount.reduce(0, +), generationSeconds: metrics.generationSeconds,
                baselineMeanMSE: b?.meanBottomMSE, baselineNearestMSE: b?.nearestTopMSE, baselineTrainingImages: b?.trainingImages),
            classes: names.indices.map {
                .init(name: names[$0], images: metrics.perClassCount[$0], bottomMSE: metrics.perClassBottomMSE[$0])
            },
            settings: info.settingsRows(config, parameters: params.layout.parameterCount, metrics: metrics),
            model: .init(params), images: .init(examples.images), grid: examples.grid, best: examples.best, worst: examples.worst,
            epochs: context.history, keptEpoch: info.bestEpoch)
        let curves =
            context.history.isEmpty
            ? ""
            : lossPlotSVG(
                train: context.history.map(\.trainLoss), validation: context.history.map(\.valLoss),
                validationBottom: context.history.map(\.valBottomMSE), bestEpoch: info.bestEpoch,
                monitor: info.monitor ?? .valLoss)
        let json = scriptSafe(try jsonText(data, pretty: false))
        return fill(template, with: ["title": escapeHTML(data.title), "style": style, "script": script, "curves": curves, "data": json])
    }

    /// Writes report.html into `outDirectory` (atomically, as every output); returns its size in bytes.
    @discardableResult
    static func write(
        to outDirectory: String, params: Parameters, metrics: TestMetrics, generations: [ClassGeneration],
        test: PatchSet, run: RunInfo, context: ReportContext
    ) throws -> Int {
        let page = Array(try html(params: params, metrics: metrics, generations: generations, test: test, run: run, context: context).utf8)
        try writeFileAtomically(page, to: outDirectory + "/" + OutputFiles.report)
        return page.count
    }

    // The page's parts, embedded in the tool at build time (Package.swift: embedInCode).
    static let template = String(decoding: PackageResources.report_html, as: UTF8.self)
    static let style = String(decoding: PackageResources.report_css, as: UTF8.self)
    static let script = String(decoding: PackageResources.report_js, as: UTF8.self)

    /// The template with each {{name}} replaced by values[name], in one pass (a value is
    /// never searched for further names).
    static func fill(_ template: String, with values: [String: String]) -> String {
        var out = ""
        var rest = template[...]
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            let name = String(rest[open.upperBound..<close.lowerBound])
            out += rest[..<open.lowerBound]
            out += values[name] ?? String(rest[open.lowerBound..<close.upperBound])
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    /// JSON that can sit inside a <script> block: "</script>" (or "<!--") would end or change
    /// the block, so every "<" is spelled \u003c, which JSON reads as the same character. (On
    /// the bytes: Foundation's replacingOccurrences takes tens of milliseconds on a page.)
    static func scriptSafe(_ json: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(json.utf8.count)
        for byte in json.utf8 {
            if byte == UInt8(ascii: "<") { out += Array("\\u003c".utf8) } else { out.append(byte) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func escapeHTML(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// "2025-11-29 15:40" in local time.
    static func timestamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.string(from: date)
    }
}
