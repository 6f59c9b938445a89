/// A fixed-size, 64-byte aligned, zero-initialised Float buffer that owns its memory.
/// The kernels take its raw pointer; the class exists so that ownership is explicit and the
/// memory is freed once. Not thread-safe by itself: the engine gives each buffer one writer
/// per phase, separated by barriers.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// A buffer whose zeroing (its pages' first touch, which places them on a NUMA node) is
    /// left to `firstTouch`, which must zero all of it: the engine lets each worker zero the
    /// part it will read most, so that part lands on the worker's own node.
    public init(count: Int, firstTouch: (UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        if count == 0 { pointer[0] = 0 }  // (a 0-float buffer still has one float)
        try firstTouch(pointer)
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count)
        pointer.update(from: other.pointer, count: count)
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public func copy() -> FloatBuffer {
        let b = FloatBuffer(count: count)
        b.copy(from: self)
        return b
    }
}
