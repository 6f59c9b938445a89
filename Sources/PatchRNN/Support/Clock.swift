import Foundation

/// Monotonic seconds, for timing phases without allocation.
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// One slot per worker: worker i writes slot i only, so no two threads touch the same slot.
/// (A Swift Array cannot be written from several threads at once; this can.)
public final class PerWorker<T>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<T?>
    public let count: Int
    public init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }
    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
    public subscript(i: Int) -> T? {
        get { slots[i] }
        set { slots[i] = newValue }
    }
}
