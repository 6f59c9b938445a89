/// Test-set results of a model: free-running bottom-half MSE per class and overall, and the
/// teacher-forced MSE. The JSON keys are the interface scripts rely on.
public struct TestMetrics: Sendable, Codable, Equatable {
    public var testFreeRunningBottomMSE: Double
    public var testTeacherForcedMSE: Double
    public var perClassBottomMSE: [Double]
    public var perClassCount: [Int]
    public var generationSeconds: Double

    enum CodingKeys: String, CodingKey {
        case testFreeRunningBottomMSE = "test_free_running_bottom_mse"
        case testTeacherForcedMSE = "test_teacher_forced_mse"
        case perClassBottomMSE = "per_class_bottom_mse"
        case perClassCount = "per_class_count"
        case generationSeconds = "generation_seconds"
    }
}

public struct ClassGeneration: Sendable {
    public let digit: Int
    public let indices: [Int]
    public let bottoms: FloatBuffer   // [indices.count x 8 x 49]
}

/// Generates every test image's bottom half, class by class (one batch per class), and
/// measures the errors.
public func evaluateTestSet(generator: Generator, engine: TrainingEngine, test: PatchSet) throws
    -> (TestMetrics, [ClassGeneration])
{
    let top = Patches.topHalf * Patches.patchSize
    let perImage = PatchSet.sequenceLength - top
    var perClass: [Double] = [], counts: [Int] = [], generations: [ClassGeneration] = []
    var totalSSE = 0.0, totalCount = 0
    let t0 = monotonicSeconds()
    for d in 0..<10 {
        let idx = test.indices(ofClass: d)
        let bottoms = try generator.bottomHalves(test, idx)
        generations.append(ClassGeneration(digit: d, indices: idx, bottoms: bottoms))
    }
    let seconds = monotonicSeconds() - t0
    for g in generations {
        var sse = 0.0
        for (j, i) in g.indices.enumerated() {
            sse += sumSquaredError(g.bottoms.pointer + j * perImage, test.sequence(i) + top, rowCount: 1, cols: perImage)
        }
        perClass.append(g.indices.isEmpty ? .nan : sse / Double(g.indices.count * perImage))
        counts.append(g.indices.count)
        totalSSE += sse
        totalCount += g.indices.count
    }
    let teacherForced = try engine.meanLoss(test, Array(0..<test.count))
    let metrics = TestMetrics(testFreeRunningBottomMSE: totalSSE / Double(totalCount * perImage),
                              testTeacherForcedMSE: teacherForced, perClassBottomMSE: perClass,
                              perClassCount: counts, generationSeconds: seconds)
    return (metrics, generations)
}

/// Free-running bottom-half MSE of `indices` of `data` (one batch).
public func bottomHalfMSE(generator: Generator, data: PatchSet, indices: [Int]) throws -> Double {
    let top = Patches.topHalf * Patches.patchSize
    let perImage = PatchSet.sequenceLength - top
    let bottoms = try generator.bottomHalves(data, indices)
    var sse = 0.0
    for (j, i) in indices.enumerated() {
        sse += sumSquaredError(bottoms.pointer + j * perImage, data.sequence(i) + top, rowCount: 1, cols: perImage)
    }
    return sse / Double(indices.count * perImage)
}
