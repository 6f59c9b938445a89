import PatchRNNKernels

package struct ClassGeneration: Sendable {
    package let digit: Int
    package let indices: [Int]
    package let bottoms: FloatBuffer  // [indices.count x 8 x 49]
}

/// Generates every test image's bottom half, class by class (one batch per class), and
/// measures the errors: free-running per class and overall, teacher-forced overall.
package func evaluateTestSet(generator: Generator, evaluator: LossEvaluator, test: PatchSet) throws
    -> (TestMetrics, [ClassGeneration])
{
    let perImage = PatchSet.sequenceLength - Patches.topHalf * Patches.patchSize
    var perClass: [Double?] = [], counts: [Int] = [], generations: [ClassGeneration] = []
    var totalSSE = 0.0, totalCount = 0
    let t0 = monotonicSeconds()
    for d in 0..<10 {
        let idx = test.indices(ofClass: d)
        generations.append(ClassGeneration(digit: d, indices: idx, bottoms: try generator.bottomHalves(test, idx)))
    }
    let seconds = monotonicSeconds() - t0
    for g in generations {
        let sse = bottomHalfSSE(g.bottoms, test, g.indices)
        perClass.append(g.indices.isEmpty ? nil : sse / Double(g.indices.count * perImage))
        counts.append(g.indices.count)
        totalSSE += sse
        totalCount += g.indices.count
    }
    let teacherForced = try evaluator.meanLoss(test, Array(0..<test.count))
    let metrics = TestMetrics(
        testFreeRunningBottomMSE: totalSSE / Double(totalCount * perImage),
        testTeacherForcedMSE: teacherForced, perClassBottomMSE: perClass,
        perClassCount: counts, generationSeconds: seconds)
    return (metrics, generations)
}

/// Free-running bottom-half MSE of `indices` of `data` (one batch).
package func bottomHalfMSE(generator: Generator, data: PatchSet, indices: [Int]) throws -> Double {
    let perImage = PatchSet.sequenceLength - Patches.topHalf * Patches.patchSize
    let bottoms = try generator.bottomHalves(data, indices)
    return bottomHalfSSE(bottoms, data, indices) / Double(indices.count * perImage)
}

/// Sum of squared errors of generated bottom halves against the true ones.
func bottomHalfSSE(_ bottoms: FloatBuffer, _ data: PatchSet, _ indices: [Int]) -> Double {
    let top = Patches.topHalf * Patches.patchSize, perImage = PatchSet.sequenceLength - top
    var sse = 0.0
    for (j, i) in indices.enumerated() {
        sse += sumSquaredError(bottoms.pointer + j * perImage, data.sequence(i) + top, rowCount: 1, cols: perImage)
    }
    return sse
}
