import Foundation
import Testing

@testable import PatchRNN

/// report.html as a file: self-contained, holding the checkpoint's weights exactly, the right
/// images, escaped names, curves when there is a log; and the training log read back.
@Suite("report.html", .serialized)
struct ReportTests {
    /// A default-size model (untrained: the page does not care) and its report for a synthetic test set.
    func page(
        cell: any RecurrentCell.Type = LSTMCell.self, testCount: Int = 300, classNames: [String]? = nil,
        context: ReportContext = ReportContext()
    ) throws -> (html: String, params: Parameters, test: PatchSet, generations: [ClassGeneration]) {
        let params = Parameters.initialized(ModelConfig(cell: cell), seed: 5)
        let (images, labels) = syntheticDigits(count: testCount, seed: 9)
        let test = PatchSet(images: images, labels: labels)
        let pool = makePool(2)
        let generator = try Generator(params: params, pool: pool)
        var (metrics, generations) = try evaluateTestSet(
            generator: generator, evaluator: try LossEvaluator(params: params, pool: pool), test: test)
        metrics.classNames = classNames
        var run = RunInfo()
        run.checkpoint = "some/model.safetensors"
        let html = try ReportPage.html(params: params, metrics: metrics, generations: generations, test: test, run: run, context: context)
        return (html, params, test, generations)
    }

    @Test("the page fetches nothing: no src, href, url() or import, and http only in the SVG namespace")
    func selfContained() throws {
        let history = (1...3).map {
            EpochRecord(
                epoch: $0, trainLoss: 0.1 / Double($0), valLoss: 0.09 / Double($0), valBottomMSE: 0.05,
                seconds: 1, samplesPerSecond: 1000, best: true, learningRate: 0.002)
        }
        let html = try page(context: ReportContext(history: history)).html
        for reference in ["src=", "href=", "url(", "@import", "<link", "<iframe", "fetch(", "XMLHttpRequest", "import("] {
            #expect(!html.contains(reference), "the page contains \(reference)")
        }
        let http = html.components(separatedBy: "http").count - 1
        let namespace = html.components(separatedBy: "xmlns=\"http://www.w3.org/2000/svg\"").count - 1
        #expect(http == namespace && namespace == 1, "http appears \(http) times, the SVG namespace \(namespace)")
    }

    @Test("the embedded weights are the checkpoint's, bit for bit, in PyTorch's names, shapes and order", arguments: Cells.names)
    func weightsExact(cell: String) throws {
        let (html, params, _, _) = try page(cell: try Cells.resolve(cell))
        let data = try #require(try reportData(html))
        let model = try #require(data["model"] as? [String: Any])
        #expect(model["cell"] as? String == cell)
        let tensors = try #require(model["tensors"] as? [[String: Any]])
        #expect(tensors.map { $0["name"] as? String } == params.layout.allViews.map(\.name))
        #expect(tensors.map { $0["shape"] as? [Int] } == params.layout.allViews.map(\.torchShape))
        let weights = try #require(model["weights"] as? String)
        let bytes = try #require(Data(base64Encoded: weights))
        let floats = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let expected = params.layout.allViews.flatMap { params.torchTensor($0) }
        #expect(floats.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test("the grid holds each class's first test images; best and worst are each class's lowest and highest bottom-half MSE")
    func examples() throws {
        let (html, _, test, generations) = try page(testCount: 300)
        let data = try #require(try reportData(html))
        let images = try #require(data["images"] as? [String: Any])
        let testIndex = try #require(images["testIndex"] as? [Int]), shownMSE = try #require(images["bottomMSE"] as? [Double])
        let grid = try #require(data["grid"] as? [[Int]]), best = try #require(data["best"] as? [[Int]]),
            worst = try #require(data["worst"] as? [[Int]])
        let half = Patches.topHalf * Patches.patchSize
        for g in generations {
            #expect(grid[g.digit].map { testIndex[$0] } == Array(g.indices.prefix(10)))
            // Every image's MSE, here in plain Double arithmetic.
            var mse: [Int: Double] = [:]
            for (j, i) in g.indices.enumerated() {
                var s = 0.0
                for k in 0..<half {
                    let d = Double(g.bottoms[j * half + k]) - Double(test.sequence(i)[half + k])
                    s += d * d
                }
                mse[i] = s / Double(half)
            }
            let ranked = mse.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key)
            #expect(best[g.digit].map { testIndex[$0] } == Array(ranked.prefix(4)))
            #expect(worst[g.digit].map { testIndex[$0] } == Array(ranked.reversed().prefix(4)))
            for slot in best[g.digit] + worst[g.digit] + grid[g.digit] {
                #expect(abs(shownMSE[slot] - mse[testIndex[slot]]!) <= 1e-6 * max(1, mse[testIndex[slot]]!))
            }
        }
        // The pixels are the test images' bytes; each image is held once.
        #expect(Set(testIndex).count == testIndex.count)
        let encoded = try #require(images["pixels"] as? String)
        let pixels = try #require(Data(base64Encoded: encoded))
        for (slot, i) in testIndex.enumerated() {
            let image = Patches.toImage(Array(UnsafeBufferPointer(start: test.sequence(i), count: PatchSet.sequenceLength)))
            #expect(image.map { UInt8(($0 * 255).rounded()) } == Array(pixels[(slot * 784)..<((slot + 1) * 784)]))
        }
    }

    @Test("class names cannot end the data block or add markup: they arrive in the page's data as they are")
    func namesEscaped() throws {
        let names = ["</script><script>alert(1)</script>", "a & b", "<b>bold</b>", "\"quoted\""] + (4..<10).map { "class \($0)" }
        let html = try page(classNames: names).html
        #expect(!html.contains("<script>alert(1)"))
        #expect(html.components(separatedBy: "</script>").count - 1 == 2, "the page's two script blocks, no more")
        let data = try #require(try reportData(html))
        let classes = try #require(data["classes"] as? [[String: Any]])
        #expect(classes.map { $0["name"] as? String } == names)
    }

    @Test("curves with a training log, none without; the kept epoch marked")
    func curves() throws {
        let none = try page().html
        #expect(!none.contains("<svg"))
        let history = (1...4).map {
            EpochRecord(
                epoch: $0, trainLoss: 0.1 / Double($0), valLoss: 0.09 / Double($0), valBottomMSE: nil,
                seconds: 1, samplesPerSecond: 1000, best: $0 <= 3, learningRate: 0.002)
        }
        let with = try page(context: ReportContext(history: history, checkpointMetadata: ["epoch": "3", "monitor": "val_loss"])).html
        #expect(with.contains("<svg") && with.contains("kept: epoch 3"))
        let data = try #require(try reportData(with))
        #expect((data["epochs"] as? [Any])?.count == 4 && data["keptEpoch"] as? Int == 3)
    }

    @Test("a default-size model's page stays under 2 MB, whatever the size of the test set")
    func size() throws {
        for (cell, count) in [(LSTMCell.self as any RecurrentCell.Type, 2000), (GRUCell.self, 300)] {
            let bytes = try page(cell: cell, testCount: count).html.utf8.count
            print("report.html, default \(cell.title), \(count) test images: \(bytes) bytes")
            #expect(bytes < 2_000_000)
        }
    }

    @Test("the template is filled in one pass: a value is never searched for further names")
    func templateFill() {
        #expect(ReportPage.fill("a {{x}} b {{y}} {{unknown}}", with: ["x": "{{y}}", "y": "2"]) == "a {{y}} b 2 {{unknown}}")
    }

    @Test("train-log.jsonl reads back as written; a damaged line is named; a checkpoint without a log has no curves")
    func trainingLog() throws {
        let dir = try temporaryDirectory()
        let history = (1...3).map {
            EpochRecord(
                epoch: $0, trainLoss: .nan, valLoss: 0.5, valBottomMSE: $0 == 2 ? nil : 0.25,
                seconds: 2, samplesPerSecond: 10, best: $0 == 1, learningRate: 0.001, samplingProbability: 0.1)
        }
        try TrainingLog.write(history, to: dir + "/" + OutputFiles.log)
        let read = try TrainingLog.read(path: dir + "/" + OutputFiles.log)
        #expect(
            read.count == 3 && read[0].trainLoss.isNaN && read[1].valBottomMSE == nil && read[2].valBottomMSE == 0.25
                && read[2].samplingProbability == 0.1)
        let (context, warning) = ReportContext.forCheckpoint(dir + "/model.safetensors", metadata: ["seed": "4"])
        #expect(context.history.count == 3 && warning == nil && context.checkpointMetadata["seed"] == "4")

        try "{\"epoch\": 1}\n".write(toFile: dir + "/" + OutputFiles.log, atomically: true, encoding: .utf8)
        let damaged = ReportContext.forCheckpoint(dir + "/model.safetensors", metadata: [:])
        #expect(
            damaged.context.history.isEmpty && damaged.warning?.contains("line 1 is not an epoch record") == true,
            "\(damaged.warning ?? "")")

        let elsewhere = try temporaryDirectory()
        let missing = ReportContext.forCheckpoint(elsewhere + "/model.safetensors", metadata: [:])
        #expect(missing.context.history.isEmpty && missing.warning == nil)
    }

    @Test("a checkpoint's metadata fills the settings a checkpoint alone knows")
    func settingsFromCheckpoint() {
        var run = RunInfo()
        run.threads = 2
        let options = TrainingOptions()
        let filled = run.filled(fromCheckpoint: options.summary(epoch: 7, bestValLoss: 0.03), history: [])
        #expect(
            filled.settings == Dictionary(uniqueKeysWithValues: options.values) && filled.bestEpoch == 7 && filled.bestValLoss == 0.03
                && filled.threads == 2)
    }
}
