import Foundation

/// Everything report.html shows, as the JSON block its script reads (report.js names these
/// keys). Numbers stay numbers, so that the page can draw bars and format them; the settings
/// are prepared here as label/value pairs.
struct ReportData: Encodable {
    struct Headline: Encodable {
        let freeRunningMSE: Double
        let teacherForcedMSE: Double
        let testImages: Int
        let generationSeconds: Double
        let baselineMeanMSE: Double?
        let baselineNearestMSE: Double?
        let baselineTrainingImages: Int?
    }

    struct ClassRow: Encodable {
        let name: String
        let images: Int
        /// nil for a class with no test images.
        let bottomMSE: Double?
    }

    /// The checkpoint's tensors, PyTorch's names, shapes and layouts, one after another in
    /// `weights` (little-endian float32, base64).
    struct Model: Encodable {
        struct Tensor: Encodable {
            let name: String
            let shape: [Int]
        }
        let cell: String
        let title: String
        let hidden: Int
        let layers: Int
        let inputSize: Int
        let outputSize: Int
        let parameters: Int
        let tensors: [Tensor]
        let weights: String
    }

    /// The test images shown, base64 bytes: `pixels` 784 per image (the real image),
    /// `generatedBottom` 392 per image (rows 14-27 as the model drew them).
    struct Images: Encodable {
        let count: Int
        let pixels: String
        let generatedBottom: String
        let label: [Int]
        let testIndex: [Int]
        let bottomMSE: [Double]
    }

    let title: String
    let subtitle: String
    let headline: Headline
    let classes: [ClassRow]
    let settings: [[String]]
    let model: Model
    let images: Images
    /// Indices into `images`, per class: the grid's row (the class's first test images), the
    /// best completions (best first) and the worst (worst first).
    let grid: [[Int]]
    let best: [[Int]]
    let worst: [[Int]]
    /// The training log (empty: none) and its kept epoch.
    let epochs: [EpochRecord]
    let keptEpoch: Int?
}

extension ReportData.Model {
    init(_ params: Parameters) {
        let c = params.config
        var bytes: [UInt8] = []
        bytes.reserveCapacity(params.layout.parameterCount * 4)
        for v in params.layout.allViews {
            params.torchTensor(v).withUnsafeBytes { bytes.append(contentsOf: $0) }  // little-endian on every supported target
        }
        self.init(
            cell: c.cellName, title: c.cell.title, hidden: c.hidden, layers: c.layers, inputSize: c.inputSize,
            outputSize: c.outputSize, parameters: params.layout.parameterCount,
            tensors: params.layout.allViews.map { Tensor(name: $0.name, shape: $0.torchShape) },
            weights: Data(bytes).base64EncodedString())
    }
}

extension ReportData.Images {
    init(_ images: [ReportExamples.Image]) {
        self.init(
            count: images.count,
            pixels: Data(images.flatMap(\.pixels)).base64EncodedString(),
            generatedBottom: Data(images.flatMap(\.generatedBottom)).base64EncodedString(),
            label: images.map(\.label), testIndex: images.map(\.testIndex), bottomMSE: images.map(\.bottomMSE))
    }
}

extension RunInfo {
    /// What a checkpoint's metadata (`TrainingOptions.summary`) and its training log hold,
    /// where this run information lacks it (`generate` and `report` start from a checkpoint).
    package func filled(fromCheckpoint m: [String: String], history: [EpochRecord]) -> RunInfo {
        var r = self
        for field in TrainingOptions.fields where r.settings[field.setting.key] == nil {
            r.settings[field.setting.key] = field.recorded(in: m)
        }
        r.bestEpoch = r.bestEpoch ?? m["epoch"].flatMap { Int($0) }
        r.bestValLoss = r.bestValLoss ?? m["best_val_loss"].flatMap { Double($0) }
        if !history.isEmpty { r.epochsTrained = r.epochsTrained ?? history.count }
        if r.bestMonitored == nil, let monitor = r.monitor, let b = r.bestEpoch, b >= 1, b <= history.count {
            r.bestMonitored = monitor == .valBottom ? history[b - 1].valBottomMSE : history[b - 1].valLoss
        }
        return r
    }

    /// The settings table of the page: label and value, in reading order; what is unknown is left out.
    func settingsRows(_ config: ModelConfig, parameters: Int, metrics: TestMetrics) -> [[String]] {
        var rows: [[String]] = []
        func add(_ label: String, _ value: String?) { if let value { rows.append([label, value]) } }
        add(
            "model",
            "\(config.cell.title), \(config.layers) layer\(config.layers == 1 ? "" : "s") of \(config.hidden) + Dense \(config.hidden)\u{2192}\(config.outputSize)"
        )
        add("parameters", grouped(parameters))
        if let epochsTrained {
            add(
                "epochs trained",
                "\(epochsTrained)\(stoppedEarly == true ? " (stopped early)" : "")\(trainSeconds.map { " in \(duration($0))" } ?? "")")
        }
        if let bestEpoch {
            var kept = "\(bestEpoch)"
            if let monitor, let bestMonitored, monitor != .valLoss {
                kept += " (\(monitor.rawValue) \(fmt(bestMonitored, 5))\(bestValLoss.map { ", val_loss \(fmt($0, 5))" } ?? ""))"
            } else if let bestValLoss {
                kept += " (val_loss \(fmt(bestValLoss, 5)))"
            }
            add("kept epoch", kept)
        }
        func setting(_ s: Setting) -> String? { settings[s.key].map { "\($0)" } }
        add("early stopping follows", setting(.monitor))
        add("batch size", setting(.batchSize).map { b in "\(b)\(setting(.shardSize).map { ", shards of \($0)" } ?? "")" })
        add("learning rate", setting(.learningRate).map { "\($0) (start)" })
        if let p = settings[Setting.scheduledSampling.key]?.real {
            add(
                "scheduled sampling",
                p == 0 ? "off (teacher forcing)" : "p = \(p)\(setting(.samplingRamp).map { " after a \($0)-epoch ramp" } ?? "")")
        }
        add("seed", setting(.seed))
        add("threads", threads.map { t in "\(t)\(processes.map { $0 > 1 ? " per process, \($0) MPI processes" : "" } ?? "")" })
        add("checkpoint", checkpoint)
        add("test images", grouped(metrics.perClassCount.reduce(0, +)))
        add("generating all of them", "\(fmt(metrics.generationSeconds, 2)) s")
        return rows
    }
}

/// 66225 as "66,225".
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + out
}
