import PatchRNNKernels

/// Free-running generation of bottom halves: feed the 8 true top-half patches, then feed each
/// prediction, clipped to the pixel range [0, 1], back in. The output after patch 8 is patch
/// 9; after patch 15 it is patch 16.
/// A class batch (about 1,000 images) is cut into chunks of a fixed size (64: 16 chunks, so
/// up to 16 workers share a class) that the workers take from a shared queue; each chunk runs
/// the same SIMD kernels as training (GEMMs, and the cell's fused step or its cell kernel: the
/// cell's `generationGateOrder`). The chunk size does not
/// depend on the thread count, so the metrics do not either.
public final class Generator: @unchecked Sendable {
    public let pool: WorkerPool
    public let params: Parameters
    public let chunkSize: Int
    public static let defaultChunkSize = 64
    let workspaces: PerWorker<GenerationWorkspace>

    /// A generator drawing with `params` (read at every call: it follows training).
    /// - Parameters:
    ///   - params: The model's weights.
    ///   - pool: The workers that generate, one chunk of images each at a time.
    ///   - chunkSize: Images a worker generates together.
    ///   - format: The GEMM tile (the CPU's best by default).
    /// - Throws: `PatchRNNError` when the workspaces cannot be allocated.
    public init(params: Parameters, pool: WorkerPool, chunkSize: Int = Generator.defaultChunkSize, format: PanelFormat = .preferred) throws
    {
        self.params = params
        self.pool = pool
        self.chunkSize = chunkSize
        workspaces = PerWorker(count: pool.count)
        let layout = params.layout, workspaces = self.workspaces
        try pool.run { w in workspaces[w] = GenerationWorkspace(layout: layout, capacity: chunkSize, format: format) }
    }

    /// Floats a generator allocates for `workers` workers.
    public static func floats(_ layout: ParameterLayout, workers: Int, chunkSize: Int = defaultChunkSize, format: PanelFormat = .preferred)
        -> Int
    {
        workers * GenerationWorkspace.floats(layout, capacity: chunkSize, format: format)
    }

    /// Generates the bottom halves of some images from their top halves: the 8 top patches
    /// are fed in, then each prediction (clipped to [0, 1]) is fed back for the next.
    /// - Parameters:
    ///   - data: The images.
    ///   - indices: Which of them.
    /// - Returns: [indices.count x 8 x 49] floats, the 8 generated patches of each image.
    /// - Throws: `PatchRNNError` when the output cannot be allocated.
    public func bottomHalves(_ data: PatchSet, _ indices: [Int]) throws -> FloatBuffer {
        let perImage = (Patches.count - Patches.topHalf) * Patches.patchSize
        let out = FloatBuffer(count: indices.count * perImage, what: "\(indices.count) generated bottom halves")
        let chunks = (indices.count + chunkSize - 1) / chunkSize
        let p = params.buffer.pointer, o = out.pointer
        let chunkSize = self.chunkSize, workspaces = self.workspaces
        try indices.withUnsafeBufferPointer { idx in
            try pool.forEachItem(chunks, start: { w in workspaces[w]?.prepare(p) }) { w, c in
                let lo = c * chunkSize, hi = min(lo + chunkSize, idx.count)
                workspaces[w]?.generate(p, data, UnsafeBufferPointer(rebasing: idx[lo..<hi]), into: o + lo * perImage)
            }
        }
        return out
    }
}
