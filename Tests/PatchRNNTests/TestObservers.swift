@testable import PatchRNN

/// A trainer's observer made of closures, for tests that look at (or break) a run between
/// steps or epochs.
final class Hooks: TrainingObserver {
    var step: ((Int) -> Bool)?
    var epoch: ((EpochRecord) throws -> Void)?

    init(step: ((Int) -> Bool)? = nil, epoch: ((EpochRecord) throws -> Void)? = nil) {
        self.step = step
        self.epoch = epoch
    }

    func stepEnded(step n: Int, batch: UnsafeBufferPointer<Int>, loss: Double) -> Bool { step?(n) ?? true }
    func epochEnded(_ record: EpochRecord, progress: TrainingProgress, last: Bool) throws { try epoch?(record) }
}
