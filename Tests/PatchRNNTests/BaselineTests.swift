import Foundation
import Testing

@testable import PatchRNN

@Suite("Baselines (evaluate --baselines)")
struct BaselineTests {
    @Test("the nearest-top baseline finds each test image's twin, whatever the thread count; the mean baseline is the plain mean")
    func baselines() throws {
        let train = randomPatchSet(count: 5000, seed: 31)
        // Test images: copies of 300 training images (more than 4 blocks of 64 test rows, so
        // that several workers share them) with their top halves slightly disturbed, so the
        // nearest top half is still the original's.
        var rng = SeededRandom(seed: 5)
        let picks = (0..<300).map { _ in rng.below(5000) }
        let test = train.subset(picks)
        for i in 0..<test.count { test.data[i * PatchSet.sequenceLength] += 0.01 }
        let one = try Baselines.nearestTops(train: train, test: test, pool: makePool(1))
        let three = try Baselines.nearestTops(train: train, test: test, pool: makePool(3))
        #expect(one == picks && three == picks)
        let b = try Baselines.measure(train: train, test: test, pool: makePool(2))
        #expect(b.nearestTopMSE == 0, "the twin's bottom half is the test image's")
        // The mean baseline by hand, in Double.
        let half = 392
        var mean = [Double](repeating: 0, count: half)
        for i in 0..<train.count { for j in 0..<half { mean[j] += Double(train.sequence(i)[half + j]) / Double(train.count) } }
        var sse = 0.0
        for i in 0..<test.count {
            for j in 0..<half {
                let d = Double(test.sequence(i)[half + j]) - mean[j]
                sse += d * d
            }
        }
        #expect(Tolerance(absolute: 0, relative: 1e-5).accepts(b.meanBottomMSE, sse / Double(test.count * half)))
        #expect(b.trainingImages == 5000)
    }
}
