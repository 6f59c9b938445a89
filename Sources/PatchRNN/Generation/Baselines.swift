import PatchRNNKernels

/// Two simple predictors of the bottom half, measured on the same test set as the model, so
/// that its error has a scale: the mean bottom half of the training images, and the bottom half
/// of the training image whose top half is nearest (squared distance over the 392 top-half
/// pixels). `patchrnn evaluate --baselines` prints them.
public struct BaselineMetrics: Sendable, Codable, Equatable {
    public var meanBottomMSE: Double
    public var nearestTopMSE: Double
    public var trainingImages: Int

    enum CodingKeys: String, CodingKey {
        case meanBottomMSE = "baseline_mean_bottom_mse"
        case nearestTopMSE = "baseline_nearest_top_mse"
        case trainingImages = "baseline_training_images"
    }
}

public enum Baselines {
    static let half = Patches.topHalf * Patches.patchSize  // 392 floats: patches 1-8, then 9-16

    public static func measure(train: PatchSet, test: PatchSet, pool: WorkerPool) throws -> BaselineMetrics {
        guard train.count > 0, test.count > 0 else { throw PatchRNNError("baselines need training and test images") }
        let half = Self.half
        // The mean training bottom half, summed in Double.
        var mean = [Double](repeating: 0, count: half)
        for i in 0..<train.count {
            let bottom = train.sequence(i) + half
            for j in 0..<half { mean[j] += Double(bottom[j]) }
        }
        let meanBottom = mean.map { Float($0 / Double(train.count)) }
        var meanSSE = 0.0
        meanBottom.withUnsafeBufferPointer { m in
            for i in 0..<test.count { meanSSE += sumSquaredError(test.sequence(i) + half, m.baseAddress!, rowCount: 1, cols: half) }
        }
        let nearest = try nearestTops(train: train, test: test, pool: pool)
        var nearestSSE = 0.0
        for i in 0..<test.count {
            nearestSSE += sumSquaredError(test.sequence(i) + half, train.sequence(nearest[i]) + half, rowCount: 1, cols: half)
        }
        let n = Double(test.count * half)
        return BaselineMetrics(meanBottomMSE: meanSSE / n, nearestTopMSE: nearestSSE / n, trainingImages: train.count)
    }

    /// For every test image, the training image whose top half is nearest: argmin over j of
    /// |b_j|^2 - 2 a.b_j (|a|^2 is the same for every j), the products as one GEMM per block of
    /// test rows and training columns. Ties go to the lower index; the blocks do not depend on
    /// the thread count, so neither does the answer.
    static func nearestTops(train: PatchSet, test: PatchSet, pool: WorkerPool) throws -> [Int] {
        let half = Self.half, length = PatchSet.sequenceLength
        let packed = FloatBuffer(count: packedCount(k: half, n: train.count))
        let b = PackedMatrix(base: packed.pointer, k: half, n: train.count)
        b.pack(train.sequence(0), rowStride: 1, colStride: length)  // B(r, j) = top pixel r of training image j
        let norms = FloatBuffer(count: train.count)
        for j in 0..<train.count {
            let top = train.sequence(j)
            var s: Float = 0
            for r in 0..<half { s += top[r] * top[r] }
            norms[j] = s
        }
        let rowsPerItem = 64, columnBlock = 4096
        let result = UnsafeMutablePointer<Int>.allocate(capacity: test.count)
        defer { result.deallocate() }
        let scratch = PerWorker<FloatBuffer>(count: pool.count)
        let items = (test.count + rowsPerItem - 1) / rowsPerItem
        let normsP = norms.pointer, trainCount = train.count
        let allocateScratch: (Int) -> Void = { w in scratch[w] = FloatBuffer(count: rowsPerItem * columnBlock) }
        try pool.forEachItem(items, start: allocateScratch) { w, item in
            guard let c = scratch[w]?.pointer else { return }
            let lo = item * rowsPerItem, rows = min(rowsPerItem, test.count - lo)
            var best = [(Float, Int)](repeating: (.infinity, -1), count: rows)
            var j0 = 0
            while j0 < trainCount {
                let width = min(columnBlock, trainCount - j0)
                gemm(
                    m: rows, a: test.sequence(lo), aRowStride: length, b: b.columns(j0..<(j0 + width)), c: c, ldc: width, accumulate: false)
                for r in 0..<rows {
                    let row = c + r * width
                    for j in 0..<width {
                        let d = normsP[j0 + j] - 2 * row[j]
                        if d < best[r].0 { best[r] = (d, j0 + j) }
                    }
                }
                j0 += width
            }
            for r in 0..<rows { result[lo + r] = best[r].1 }
        }
        return Array(UnsafeBufferPointer(start: result, count: test.count))
    }
}
