/// The sizes of a set of buffers carved out of one allocation, each on a 64-byte boundary and
/// 64 bytes after the end of the previous one (llm.c's `fill_in_activation_sizes`): a workspace builds its plan once, allocates
/// `floats` and points each buffer at its offset, and the memory estimate reads the same plan,
/// so the two cannot drift apart.
public struct BufferPlan: Sendable {
    public private(set) var offsets: [Int] = []
    public private(set) var sizes: [Int] = []
    /// Floats the whole block needs.
    public private(set) var floats = 0

    public init() {}

    /// Adds a buffer of `count` floats; returns its index. The 64-byte gap keeps buffers whose
    /// sizes are multiples of 4 KiB from starting at the same offset within a page, where the
    /// CPU's store-to-load check sees false dependencies between them (4K aliasing).
    @discardableResult
    public mutating func add(_ count: Int) -> Int {
        offsets.append(floats)
        sizes.append(count)
        floats += (count + 15) / 16 * 16 + 16
        return offsets.count - 1
    }

    /// Adds one buffer per size; returns their indices.
    public mutating func add(_ counts: [Int]) -> [Int] { counts.map { add($0) } }
}

/// One allocation laid out by a plan.
final class BufferBlock: @unchecked Sendable {
    let plan: BufferPlan
    let storage: FloatBuffer

    init(_ plan: BufferPlan, what: String = "worker buffers") {
        self.plan = plan
        storage = FloatBuffer(count: plan.floats, what: what)
    }

    subscript(_ index: Int) -> UnsafeMutablePointer<Float> { storage.pointer + plan.offsets[index] }
    var floats: Int { storage.count }
    func pointers(_ indices: [Int]) -> [UnsafeMutablePointer<Float>] { indices.map { self[$0] } }
}
