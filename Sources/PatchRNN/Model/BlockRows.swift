import PatchRNNKernels

/// The rows of a block of consecutive shards, time-major (row t * count + r): `count` rows cut
/// into shards of `shardSize` (the last may be smaller).
///
/// Its `gemm` computes each row exactly as the product over that row's shard alone computed it
/// when shards ran one at a time (rows t * n + b of the shard, m = steps * n): most rows are the
/// plain k-ordered sum whatever tile they fall in, but the few rows such a product left to its
/// 1-row tile were summed over even and odd k separately (`RowTails.split`). Those rows, if
/// any (none for shards of 4 or 16 with either tile), are computed that way here too, so the
/// cut into blocks changes no result at all.
public struct BlockRows: Sendable, Equatable {
    public let count: Int
    public let shardSize: Int

    public init(count: Int, shardSize: Int) {
        precondition(count >= 1 && shardSize >= 1)
        self.count = count
        self.shardSize = shardSize
    }

    /// Shards in the block.
    public var shards: Int { (count + shardSize - 1) / shardSize }

    /// Rows of shard j.
    @inline(__always)
    public func shard(_ j: Int) -> Range<Int> { (j * shardSize)..<min((j + 1) * shardSize, count) }

    /// C (+)= A B over `steps` consecutive time steps of the block: A's and C's rows are the
    /// block's rows of those steps (m = steps * count), each computed as its shard's own product
    /// computed it (see above).
    @inline(__always)
    public func gemm(
        steps: Int = 1, a: UnsafePointer<Float>, aRowStride: Int, b: PackedMatrix,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        let format = b.format
        if !hasSplitRows(steps: steps, format: format) {
            PatchRNNKernels.gemm(
                m: steps * count, a: a, aRowStride: aRowStride, b: b, c: c, ldc: ldc, accumulate: accumulate, tails: .sequential)
            return
        }
        forEachRun(steps: steps, format: format) { rows, split in
            PatchRNNKernels.gemm(
                m: rows.count, a: a + rows.lowerBound * aRowStride, aRowStride: aRowStride, b: b,
                c: c + rows.lowerBound * ldc, ldc: ldc, accumulate: accumulate, tails: split ? .split : .sequential)
        }
    }

    /// Whether any shard's own product over `steps` steps left rows to the split 1-row tile.
    @inline(__always)
    func hasSplitRows(steps: Int, format: PanelFormat) -> Bool {
        let lastRows = count - (shards - 1) * shardSize
        return !format.singleRowTail(m: steps * shardSize).isEmpty || !format.singleRowTail(m: steps * lastRows).isEmpty
    }

    /// The block's rows of `steps` steps (0..<steps * count) in ascending runs: rows its shard's
    /// own product computed with the split 1-row tile (`split` true, one row a run), and the runs
    /// between them.
    func forEachRun(steps: Int, format: PanelFormat, _ body: (_ rows: Range<Int>, _ split: Bool) -> Void) {
        if !hasSplitRows(steps: steps, format: format) {
            body(0..<(steps * count), false)
            return
        }
        // At most 3 split rows per shard (the 1-row tail of a product is under 4 rows).
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * shards) { buffer in
            var n = 0
            for j in 0..<shards {
                let rows = shard(j), size = rows.count
                for q in format.singleRowTail(m: steps * size) {
                    buffer[n] = (q / size) * count + rows.lowerBound + q % size
                    n += 1
                }
            }
            let split = buffer.prefix(n).sorted()
            var start = 0
            for r in split {
                if r > start { body(start..<r, false) }
                body(r..<(r + 1), true)
                start = r + 1
            }
            if start < steps * count { body(start..<(steps * count), false) }
        }
    }
}
