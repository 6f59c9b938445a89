import Foundation

/// Where the large allocations go, so that memory the system refuses (a full machine, `ulimit
/// -v`, a cgroup limit) ends the tool with one line naming what it was for, instead of the Swift
/// runtime's "failed to allocate" trap and backtrace.
///
/// A large allocation is granted only if `headroom` more could be had as well: the many small
/// allocations between two large ones (arrays of indices, a PNG being encoded, JSON) cannot be
/// intercepted, so it is the large ones, which can, that meet the limit first.
package enum Memory {
    /// What a large allocation leaves free for the small ones that follow it.
    static let headroom = 32 << 20
    /// From this size on an allocation is "large" (checked, with headroom).
    static let large = 64 << 10

    /// 64-byte aligned, uninitialised memory for `count` floats (at least one), or the end of
    /// the process through `refuse`.
    static func allocateFloats(_ count: Int, for what: String) -> UnsafeMutablePointer<Float> {
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        if overflow { refuse(what, bytes: Int.max) }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { refuse(what, bytes: bytes) }
        if bytes >= large && !canMap(headroom) {
            Foundation.free(raw)
            refuse(what, bytes: bytes)
        }
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Frees what `allocateFloats` returned.
    static func free(_ pointer: UnsafeMutablePointer<Float>) { Foundation.free(pointer) }

    /// Before a Swift array of `bytes` bytes is made (a file read whole, a decompressed data
    /// file, an encoded image or checkpoint): checks that it, and the headroom, could be had,
    /// so that a refusal ends in `refuse` rather than in the runtime's trap.
    static func checkAvailable(bytes: Int, for what: String) {
        guard bytes >= large else { return }
        let (total, overflow) = bytes.addingReportingOverflow(headroom)
        guard !overflow, canMap(total) else { refuse(what, bytes: bytes) }
    }

    /// Whether `bytes` of address space can be had now: asked for and given back at once
    /// (mmap, not malloc + free, which the optimiser removes as a pair). Untouched, so it
    /// costs no memory.
    private static func canMap(_ bytes: Int) -> Bool {
        let probe = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let probe, probe != MAP_FAILED else { return false }
        munmap(probe, bytes)
        return true
    }

    /// The one way a refused allocation ends: `error: not enough memory for <what> (N MiB)` on
    /// standard error and exit status 1. (`_exit`: other threads may be running, and nothing is
    /// buffered: results go out with write(2), files are written atomically, so whatever was
    /// saved before stays complete.)
    package static func refuse(_ what: String, bytes: Int) -> Never {
        let mebibytes = bytes == Int.max ? "more than the address space" : "\(bytes / 1_048_576 + (bytes % 1_048_576 == 0 ? 0 : 1)) MiB"
        StandardStreams.error("error: not enough memory for \(what) (\(mebibytes))\n")
        _exit(1)
    }
}
