/// A fixed-size, 64-byte aligned, zero-initialised Float buffer that owns its memory.
/// The kernels take its raw pointer; the class exists so that ownership is explicit and the
/// memory is freed once. Not thread-safe by itself: the engine gives each buffer one writer
/// per phase, separated by barriers. The memory comes from `Memory.allocateFloats`: memory the
/// system refuses ends the tool with one line naming `what` the buffer is for.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int, what: String = "a buffer") {
        self.count = count
        pointer = Memory.allocateFloats(count, for: what)
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// A buffer whose zeroing (its pages' first touch, which places them on a NUMA node) is
    /// left to `firstTouch`, which must zero all of it: the engine lets each worker zero the
    /// part it will read most, so that part lands on the worker's own node.
    public init(count: Int, what: String = "a buffer", firstTouch: (UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        self.count = count
        pointer = Memory.allocateFloats(count, for: what)
        if count == 0 { pointer[0] = 0 }  // (a 0-float buffer still has one float)
        try firstTouch(pointer)
    }

    public convenience init(_ values: [Float], what: String = "a buffer") {
        self.init(count: values.count, what: what)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { Memory.free(pointer) }

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

    public func copy(what: String = "a buffer") -> FloatBuffer {
        let b = FloatBuffer(count: count, what: what)
        b.copy(from: self)
        return b
    }
}
