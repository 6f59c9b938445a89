import Foundation
import Testing

@testable import PatchRNN

/// report.html in a real browser: the page's own model (report.js, a second implementation of
/// the generation) against the Swift one, a stroke drawn through the page's pointer events, and
/// screenshots kept for a person to look at. Needs headless chromium: scripts/setup.sh
/// --browser (which scripts/test.sh runs) installs Debian's; under CI its absence fails.
@Suite(
    "report.html in headless chromium", .serialized,
    .enabled(
        if: HeadlessBrowser.path != nil || runningUnderCI,
        "no headless chromium: install Debian's chromium (scripts/setup.sh --browser, which scripts/test.sh runs) or set PATCHRNN_CHROMIUM")
)
struct ReportBrowserTests {
    @Test(
        "the page's model completes every embedded image as the Swift generation does (largest difference <= 1e-5); a stroke on the live panel changes its output",
        arguments: Cells.names)
    func pageModelMatchesSwift(cell: String) throws {
        let browser = try #require(
            HeadlessBrowser.path, "CI is set but no headless chromium was found: scripts/setup.sh --browser installs Debian's chromium")
        let (page, params, pool) = try trainedReport(cell: cell)
        let embedded = try EmbeddedImages(page: page)
        // The Swift generation of exactly the images the page holds (bytes / 255, as the data loader reads them).
        let swift = try Generator(params: params, pool: pool).bottomHalves(embedded.set, Array(0..<embedded.set.count))
        let half = Patches.topHalf * Patches.patchSize

        let result = try HeadlessBrowser.selfTest(browser, page: page)
        #expect(result.error == nil, "the page's self-test failed: \(result.error ?? "")")
        #expect(result.resources.isEmpty, "the page fetched \(result.resources)")
        try #require(
            result.generated.count == embedded.set.count, "the page generated \(result.generated.count) of \(embedded.set.count) images")
        var largest = 0.0, inside = 0, clipped = 0
        for (i, values) in result.generated.enumerated() {
            try #require(values.count == half)
            for j in 0..<half {
                let s = Double(swift[i * half + j])
                largest = max(largest, abs(values[j] - s))
                if s > 0 && s < 1 { inside += 1 } else { clipped += 1 }
            }
        }
        print("report.html (\(cell)): \(result.generated.count) images, page vs Swift generation: largest |difference| \(largest)")
        #expect(largest <= 1e-5, "the page's model differs from the Swift generation by up to \(largest)")
        // The comparison means something only if many outputs are not clipped, and tests the
        // clipping only if some are.
        let total = result.generated.count * half
        print("report.html (\(cell)): \(inside) of \(total) generated pixels inside (0, 1), \(clipped) clipped")
        #expect(inside > total / 4 && clipped > total / 20, "\(inside) generated pixels inside (0, 1), \(clipped) clipped")

        // The stroke: the top half changed where it was drawn, the bottom half changed with it,
        // and the new bottom half is the Swift generation of the drawn top half.
        let stroke = try #require(result.stroke)
        #expect(!stroke.pending, "the page had not completed the drawing")
        let first = try #require(embedded.gridFirst)
        let before = Array(UnsafeBufferPointer(start: embedded.set.sequence(first), count: half)).map(Double.init)
        #expect(zip(stroke.top, before).contains { abs($0 - $1) > 0.5 }, "the stroke did not change the top half")
        #expect(zip(stroke.after, stroke.before).map { abs($0 - $1) }.max() ?? 0 > 1e-3, "drawing did not change the generated bottom half")
        let drawn = FloatBuffer(count: PatchSet.sequenceLength)
        for j in 0..<half { drawn[j] = Float(stroke.top[j]) }
        let expected = try Generator(params: params, pool: pool).bottomHalves(PatchSet(sequences: drawn, labels: [0]), [0])
        let strokeDifference = (0..<half).map { abs(stroke.after[$0] - Double(expected[$0])) }.max() ?? .infinity
        #expect(
            strokeDifference <= 1e-5,
            "after the stroke the page's output differs from the Swift generation of the drawn top half by \(strokeDifference)")

        // Screenshots, after the stroke, for a person to look at: a desktop and a phone width.
        let kept = try HeadlessBrowser.artifactDirectory()
        let copy = kept + "/report-\(cell).html"
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: page, toPath: copy)
        for (name, size, scale) in [("desktop", "1280,3900", 1), ("phone", "390,6200", 2)] {
            let png = kept + "/report-\(cell)-\(name).png"
            try HeadlessBrowser.screenshot(browser, page: page, to: png, windowSize: size, scale: scale)
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: png)))
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) && bytes.count > 50_000, "\(png) is not a screenshot of the page")
            print("report.html (\(cell)) screenshot, \(name): \(png)")
        }
    }

    /// A model of the default size trained for real (2 epochs on synthetic digits, then its
    /// output biases lowered), and the report.html that `run` writes for it.
    func trainedReport(cell: String) throws -> (page: String, params: Parameters, pool: WorkerPool) {
        let data = try writeSyntheticMNIST(train: 400, test: 150)
        var options = TrainingOptions()
        options.model = ModelConfig(cell: try Cells.resolve(cell))
        options.maxEpochs = 2
        options.batchSize = 32
        let pool = makePool(2), out = data + "/out"
        let job = try TrainingJob(
            TrainingJob.Request(settings: options, dataDirectory: data, outDirectory: out), pool: pool,
            reporter: ProgressReporter(quiet: true))
        let result = try job.run()
        // Two epochs leave every output inside [0, 1]; lowered output biases push the faint
        // ones below 0, so that the clipping (of the output and of what is fed back) is tested too.
        let bias = job.params.layout.denseBias
        for i in 0..<bias.count { job.params.buffer[bias.offset + i] -= 0.15 }
        _ = try Results.generate(
            params: job.params, test: job.data.test, pool: pool, outDirectory: out, run: job.runInfo(result),
            report: ReportContext(history: result.history))
        return (out + "/" + OutputFiles.report, job.params, pool)
    }
}

/// The test images a report.html holds, read back from its data block.
struct EmbeddedImages {
    let set: PatchSet
    /// The image the live panel starts from (the first of the grid).
    let gridFirst: Int?
    let data: [String: Any]

    init(page: String) throws {
        let html = try String(contentsOfFile: page, encoding: .utf8)
        data = try #require(try reportData(html))
        let images = try #require(data["images"] as? [String: Any])
        let encoded = try #require(images["pixels"] as? String)
        let pixels = try #require(Data(base64Encoded: encoded))
        let labels = try #require(images["label"] as? [Int])
        try #require(pixels.count == labels.count * 784)
        set = PatchSet(images: [UInt8](pixels), labels: labels.map(UInt8.init))
        gridFirst = (data["grid"] as? [[Int]])?.first { !$0.isEmpty }?.first
    }
}

/// The JSON block of a report page (#report-data), decoded.
func reportData(_ html: String) throws -> [String: Any]? {
    let open = #"<script type="application/json" id="report-data">"#
    guard let start = html.range(of: open), let end = html.range(of: "</script>", range: start.upperBound..<html.endIndex) else {
        return nil
    }
    return try JSONSerialization.jsonObject(with: Data(html[start.upperBound..<end.lowerBound].utf8)) as? [String: Any]
}

/// Headless chromium, run as a program (no driver library): --dump-dom for what the page
/// writes, --screenshot for pictures.
enum HeadlessBrowser {
    /// $PATCHRNN_CHROMIUM, else the first of chromium, chromium-browser, google-chrome,
    /// google-chrome-stable on PATH.
    static let path: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["PATCHRNN_CHROMIUM"], FileManager.default.isExecutableFile(atPath: explicit) { return explicit }
        let directories = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
            for d in directories where FileManager.default.isExecutableFile(atPath: d + "/" + name) { return d + "/" + name }
        }
        return nil
    }()

    /// What #selftest writes into the page (report.js, selfTest).
    struct SelfTest: Decodable {
        struct Stroke: Decodable {
            let before: [Double]
            let after: [Double]
            let top: [Double]
            let pending: Bool
        }
        let generated: [[Double]]
        let stroke: Stroke?
        let error: String?
        let resources: [String]
    }

    static func selfTest(_ browser: String, page: String) throws -> SelfTest {
        let dom = try run(browser, ["--virtual-time-budget=20000", "--dump-dom", url(page, hash: "selftest")])
        guard let start = dom.range(of: #"<pre id="selftest-result""#),
            let open = dom.range(of: ">", range: start.upperBound..<dom.endIndex),
            let close = dom.range(of: "</pre>", range: open.upperBound..<dom.endIndex),
            dom[start.upperBound..<open.lowerBound].contains("data-done")
        else {
            throw PatchRNNError("the page's self-test did not finish (chromium printed \(dom.count) characters of DOM)")
        }
        let text = dom[open.upperBound..<close.lowerBound]
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(
                of: "&amp;", with: "&")
        return try JSONDecoder().decode(SelfTest.self, from: Data(text.utf8))
    }

    static func screenshot(_ browser: String, page: String, to png: String, windowSize: String, scale: Int) throws {
        try? FileManager.default.removeItem(atPath: png)
        _ = try run(
            browser,
            [
                "--virtual-time-budget=20000", "--window-size=\(windowSize)", "--force-device-scale-factor=\(scale)",
                "--screenshot=\(png)", url(page, hash: "selftest"),
            ])
        guard FileManager.default.fileExists(atPath: png) else { throw PatchRNNError("chromium wrote no screenshot to \(png)") }
    }

    /// Where the screenshots stay after the test: .build/report-screenshots in the package.
    static func artifactDirectory() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir = root + "/.build/report-screenshots"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func url(_ path: String, hash: String) -> String {
        URL(fileURLWithPath: path).absoluteString + "#" + hash
    }

    /// Runs chromium on a profile of its own (deleted after), its log in a file (so that a
    /// chatty browser cannot fill a pipe), ended after two minutes if it hangs; its stdout.
    static func run(_ browser: String, _ args: [String]) throws -> String {
        let profile = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let common = [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-extensions",
            "--user-data-dir=\(profile)",
        ]
        let p = Process()
        let timeout = "/usr/bin/timeout"
        if FileManager.default.isExecutableFile(atPath: timeout) {
            p.executableURL = URL(fileURLWithPath: timeout)
            p.arguments = ["120", browser] + common + args
        } else {
            p.executableURL = URL(fileURLWithPath: browser)
            p.arguments = common + args
        }
        let out = Pipe()
        p.standardOutput = out
        _ = FileManager.default.createFile(atPath: profile + "/stderr.txt", contents: nil)
        p.standardError = FileHandle(forWritingAtPath: profile + "/stderr.txt")
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let log = (try? String(contentsOfFile: profile + "/stderr.txt", encoding: .utf8)) ?? ""
            throw PatchRNNError(
                "chromium exited with status \(p.terminationStatus): \(log.split(separator: "\n").suffix(3).joined(separator: " | "))")
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}
