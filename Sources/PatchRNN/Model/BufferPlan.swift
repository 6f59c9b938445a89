/// The named buffers carved out of one allocation, each on a 64-byte boundary and at least 64
/// bytes after the end of the previous one (llm.c's `fill_in_activation_sizes`). A workspace
/// declares its buffers once (`BufferDeclarations`); the same declarations make the plan (which
/// the memory estimate reads too, so the two cannot drift apart) and then bind the pointers.
struct BufferPlan: Sendable {
    private(set) var names: [String] = []
    private(set) var offsets: [Int] = []
    private(set) var sizes: [Int] = []
    /// Floats the whole block needs.
    private(set) var floats = 0
    /// Floats after each buffer before the next starts (at least 16). The gap keeps buffers
    /// whose sizes are multiples of 4 KiB from starting at the same offset within a page, where
    /// the CPU's store-to-load check sees false dependencies between them (4K aliasing); tests
    /// widen it and fill it with guard values to catch a kernel writing past its buffer.
    let gap: Int

    init(gap: Int = 16) {
        precondition(gap >= 16 && gap % 16 == 0)
        self.gap = gap
        floats = gap  // a gap before the first buffer too
    }

    /// Adds a buffer of `count` floats; returns its index.
    @discardableResult
    mutating func add(_ name: String, _ count: Int) -> Int {
        names.append(name)
        offsets.append(floats)
        sizes.append(count)
        floats += (count + 15) / 16 * 16 + gap
        return offsets.count - 1
    }

    /// The floats between buffer i's end and the next buffer (or the block's end).
    func gapAfter(_ i: Int) -> Range<Int> {
        (offsets[i] + sizes[i])..<(i + 1 < offsets.count ? offsets[i + 1] : floats)
    }
}

/// Where declared buffers go: `planning` only counts them; `binding` hands out their pointers
/// in a block laid out by the plan the same declarations made.
public struct BufferDeclarations {
    private(set) var plan: BufferPlan
    private let base: UnsafeMutablePointer<Float>?
    /// Prefixed to the names declared, to tell the layers' buffers apart ("layer 1: gates").
    var scope = ""

    /// Counting only: the pointers handed out are not to be used.
    static func planning(gap: Int = 16) -> BufferDeclarations { BufferDeclarations(plan: BufferPlan(gap: gap), base: nil) }

    /// Handing out pointers into `block`, laid out by the same declarations' plan.
    static func binding(_ block: BufferBlock) -> BufferDeclarations {
        BufferDeclarations(plan: BufferPlan(gap: block.plan.gap), base: block.storage.pointer)
    }

    /// A buffer of `count` floats called `name`.
    public mutating func buffer(_ name: String, _ count: Int) -> UnsafeMutablePointer<Float> {
        let i = plan.add(scope + name, count)
        return (base ?? Self.nowhere) + (base == nil ? 0 : plan.offsets[i])
    }

    /// What planning hands out: one float that nothing reads or writes.
    private nonisolated(unsafe) static let nowhere = UnsafeMutablePointer<Float>.allocate(capacity: 1)
}

/// One allocation laid out by a plan.
final class BufferBlock: @unchecked Sendable {
    let plan: BufferPlan
    let storage: FloatBuffer

    init(_ plan: BufferPlan, what: String = "worker buffers") {
        self.plan = plan
        storage = FloatBuffer(count: plan.floats, what: what)
    }

    var floats: Int { storage.count }

    /// Buffer `index` of the plan.
    subscript(_ index: Int) -> UnsafeMutablePointer<Float> { storage.pointer + plan.offsets[index] }

    /// The gaps around the buffers, each with the name of the buffer it follows ("start" for
    /// the one before the first).
    var gaps: [(after: String, floats: Range<Int>)] {
        [("start", 0..<(plan.offsets.first ?? plan.floats))] + plan.offsets.indices.map { (plan.names[$0], plan.gapAfter($0)) }
    }

    /// Fills every gap between the buffers with `value` (tests: guard values).
    func fillGaps(_ value: Float) {
        for g in gaps { (storage.pointer + g.floats.lowerBound).update(repeating: value, count: g.floats.count) }
    }

    /// The gaps that no longer hold `value` bit for bit, by the buffer before them: a kernel
    /// wrote past the end of that buffer (or before the start of the next).
    func overwrittenGaps(_ value: Float) -> [String] {
        gaps.filter { g in g.floats.contains { storage.pointer[$0].bitPattern != value.bitPattern } }.map(\.after)
    }
}
