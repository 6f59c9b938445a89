import PatchRNNKernels

/// The test images a report shows, chosen from the generation of the whole test set: the
/// first `gridPerClass` of each class (the 10x10 grid, the same digits as samples.png) and,
/// per class, the `extremes` best and worst completions by bottom-half MSE. Each image is
/// kept once, however many places show it.
struct ReportExamples {
    struct Image {
        let testIndex: Int
        let label: Int
        /// The real image, 28x28 row-major, as bytes (the data sets' own form: byte / 255 is
        /// exactly what the model was given).
        let pixels: [UInt8]
        /// The generated bottom half as an image: rows 14-27, 14 x 28 row-major bytes.
        let generatedBottom: [UInt8]
        /// Bottom-half MSE of the generation (from the floats, not the bytes).
        let bottomMSE: Double
    }

    private(set) var images: [Image] = []
    /// Indices into `images`, per class: the grid's row, the best first, the worst first.
    private(set) var grid: [[Int]] = []
    private(set) var best: [[Int]] = []
    private(set) var worst: [[Int]] = []

    init(generations: [ClassGeneration], test: PatchSet, gridPerClass: Int = 10, extremes: Int = 4) {
        var slot: [Int: Int] = [:]  // test index -> index into images
        func add(_ g: ClassGeneration, _ j: Int, mse: Double) -> Int {
            let i = g.indices[j]
            if let s = slot[i] { return s }
            slot[i] = images.count
            images.append(Self.image(test: test, index: i, label: g.digit, bottom: g.bottoms.pointer + j * Self.half, mse: mse))
            return images.count - 1
        }
        for g in generations {
            let mse = (0..<g.indices.count).map { j in
                sumSquaredError(g.bottoms.pointer + j * Self.half, test.sequence(g.indices[j]) + Self.half, rowCount: 1, cols: Self.half)
                    / Double(Self.half)
            }
            grid.append((0..<min(gridPerClass, g.indices.count)).map { add(g, $0, mse: mse[$0]) })
            // Ties go to the earlier test image, so the choice does not depend on the sort.
            let ranked = mse.indices.sorted { (mse[$0], g.indices[$0]) < (mse[$1], g.indices[$1]) }
            best.append(ranked.prefix(extremes).map { add(g, $0, mse: mse[$0]) })
            worst.append(ranked.reversed().prefix(extremes).map { add(g, $0, mse: mse[$0]) })
        }
    }

    static let half = Patches.topHalf * Patches.patchSize  // 392: floats of a half, pixels of a half image

    private static func image(test: PatchSet, index: Int, label: Int, bottom: UnsafePointer<Float>, mse: Double) -> Image {
        let length = PatchSet.sequenceLength
        let real = Array(UnsafeBufferPointer(start: test.sequence(index), count: length))
        let completed = Array(real[0..<half]) + Array(UnsafeBufferPointer(start: bottom, count: half))
        return Image(
            testIndex: index, label: label, pixels: bytes(Patches.toImage(real)),
            generatedBottom: Array(bytes(Patches.toImage(completed))[half...]), bottomMSE: mse)
    }

    private static func bytes(_ values: [Float]) -> [UInt8] {
        values.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }
    }

}
