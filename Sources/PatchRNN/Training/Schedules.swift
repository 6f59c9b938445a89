// What happens between epochs, as small types of their own (the split mlx-swift makes between
// an optimizer and its schedules): the optimizer (Adam, with its fused sum-and-update) only
// takes a learning rate; these decide it, and when to stop.

/// Early stopping on a monitored validation figure (`TrainingOptions.Monitor`): keeps the best
/// epoch and says when `patience` epochs have passed without an improvement of more than
/// `minDelta`. Its state lives in `TrainingProgress`, so a resumed run continues the count.
public struct EarlyStopping: Sendable, Equatable {
    public let patience: Int
    public var minDelta = 0.0

    /// Records an epoch's monitored value; returns whether it improved on the best so far.
    public func observe(_ value: Double, epoch: Int, _ p: inout TrainingProgress) -> Bool {
        if value < p.bestValLoss - minDelta {
            p.bestValLoss = value
            p.bestEpoch = epoch
            p.sinceBest = 0
            return true
        }
        p.sinceBest += 1
        return false
    }

    public func shouldStop(_ p: TrainingProgress) -> Bool { p.sinceBest >= patience }
}

/// Keras' ReduceLROnPlateau: multiply the learning rate by `factor` every `patience` epochs
/// without improvement (0: never), not below `floor`; a rate that starts below the floor stays
/// where it is (the rule only ever lowers it).
public struct PlateauSchedule: Sendable, Equatable {
    public let patience: Int
    public var factor: Float = 0.5
    public var floor: Float = 1e-6

    /// The rate for the next epoch after one that left `sinceBest` epochs without improvement.
    public func next(_ rate: Float, sinceBest: Int) -> Float {
        guard patience > 0, sinceBest > 0, sinceBest % patience == 0 else { return rate }
        return max(rate * factor, min(rate, floor))
    }
}
