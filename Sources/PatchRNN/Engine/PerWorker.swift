/// One slot per worker: worker i writes slot i only, so no two threads touch the same slot.
/// (A Swift Array cannot be written from several threads at once; this can.)
package final class PerWorker<T>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<T?>
    package let count: Int
    package init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }
    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
    package subscript(i: Int) -> T? {
        get { slots[i] }
        set { slots[i] = newValue }
    }
    /// The slots as an array (read by one thread after the workers are done).
    package var values: [T?] { (0..<count).map { slots[$0] } }
}
