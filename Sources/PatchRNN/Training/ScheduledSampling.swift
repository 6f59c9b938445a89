// Scheduled sampling (Bengio et al., 2015, "Scheduled Sampling for Sequence Prediction with
// Recurrent Neural Networks"): training only ever sees true patches, while generation feeds
// back its own predictions (exposure bias). With scheduled sampling each bottom-half input of
// a training sequence is, with a probability that grows over the epochs, the model's own
// clipped prediction of the previous step instead of the true patch.
//
// The fed-back prediction is an input like any other: no gradient flows back through it
// (as in the paper, which treats the sampled token as data). The loss still compares every
// prediction with the true next patch; the gradient of the fed-back path would ask the
// earlier step to make its prediction a better *input* rather than a better *patch*, and
// the clip to [0, 1] has zero slope wherever it acts. It also keeps backward the same
// layer-major pass as teacher forcing.

/// How the feedback probability grows: linearly from 0 in epoch 1 to `maxProbability` at
/// epoch `1 + rampEpochs`, then constant. `maxProbability` 0 is plain teacher forcing.
public struct ScheduledSampling: Sendable, Codable, Equatable {
    public var maxProbability: Double = 0
    public var rampEpochs: Int = 10
    public init(maxProbability: Double = 0, rampEpochs: Int = 10) {
        self.maxProbability = maxProbability
        self.rampEpochs = rampEpochs
    }

    public var isOn: Bool { maxProbability > 0 }

    /// The probability that a bottom-half input is fed back, in `epoch` (from 1).
    public func probability(epoch: Int) -> Double {
        guard isOn else { return 0 }
        return maxProbability * min(1, Double(max(epoch - 1, 0)) / Double(max(rampEpochs, 1)))
    }

    enum CodingKeys: String, CodingKey {
        case maxProbability = "max_probability"
        case rampEpochs = "ramp_epochs"
    }
}

/// The feedback draws of one step: whether sequence `id` (a training-file index) takes its
/// own prediction as its input at `step`, decided by a hash of (seed, epoch, id, step) alone,
/// so that who computes the shard (thread, rank) cannot change it.
public struct FeedbackDraw: @unchecked Sendable {
    public let probability: Double
    public let seed: UInt64
    public let epoch: Int
    /// The training-file index of each row of the minibatch.
    public let sequenceIDs: UnsafePointer<Int>

    public init(probability: Double, seed: UInt64, epoch: Int, sequenceIDs: UnsafePointer<Int>) {
        self.probability = probability
        self.seed = seed
        self.epoch = epoch
        self.sequenceIDs = sequenceIDs
    }

    /// The same draws for rows [r.lowerBound, ...) of the minibatch: a shard's.
    func rows(from first: Int) -> FeedbackDraw {
        FeedbackDraw(probability: probability, seed: seed, epoch: epoch, sequenceIDs: sequenceIDs + first)
    }

    /// Whether row `row` feeds back its own prediction at `step`.
    @inline(__always)
    func feedsBack(row: Int, step: Int) -> Bool {
        var z = Self.mix(seed ^ 0x5CED_5A3B_1E5A_3A11)
        z = Self.mix(z ^ UInt64(truncatingIfNeeded: epoch))
        z = Self.mix(z ^ UInt64(truncatingIfNeeded: sequenceIDs[row]))
        z = Self.mix(z ^ UInt64(truncatingIfNeeded: step))
        return Double(z >> 11) * 0x1p-53 < probability
    }

    /// SplitMix64's finaliser: every input bit moves every output bit.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
