/// Free-running generation of bottom halves: feed the 8 true top-half patches, then feed each
/// prediction, clipped to the pixel range [0, 1], back in. The output after patch 8 is patch
/// 9; after patch 15 it is patch 16.
/// A class batch (about 1,000 images) is cut into chunks of a fixed size (64: 16 chunks, so
/// up to 16 workers share a class) that the workers take from a shared queue; each chunk runs the same SIMD
/// kernels as training (GEMM per layer per step, fused gate nonlinearities). The chunk size
/// does not depend on the thread count, so the metrics do not either.
public final class Generator: @unchecked Sendable {
    public let pool: WorkerPool
    public let params: Parameters
    public let chunkSize: Int
    let workspaces: PerWorker<GenerationWorkspace>

    public init(params: Parameters, pool: WorkerPool, chunkSize: Int = 64) throws {
        self.params = params
        self.pool = pool
        self.chunkSize = chunkSize
        workspaces = PerWorker(count: pool.count)
        let layout = params.layout, workspaces = self.workspaces
        try pool.run { w in workspaces[w] = GenerationWorkspace(layout: layout, capacity: chunkSize) }
    }

    /// Generated bottom halves for `indices` of `data`: [indices.count x 8 x 49].
    public func bottomHalves(_ data: PatchSet, _ indices: [Int]) throws -> FloatBuffer {
        let generatedPatches = Patches.count - Patches.topHalf
        let perImage = generatedPatches * Patches.patchSize
        let out = FloatBuffer(count: indices.count * perImage)
        let chunks = (indices.count + chunkSize - 1) / chunkSize
        let p = params.buffer.pointer, o = out.pointer
        let chunkSize = self.chunkSize, workspaces = self.workspaces
        let queue = WorkerPool.WorkQueue(count: chunks)
        try indices.withUnsafeBufferPointer { idx in
            try pool.run { w in
                guard let ws = workspaces[w], var c = queue.take() else { return }
                ws.prepare(p)
                repeat {
                    let lo = c * chunkSize, hi = min(lo + chunkSize, idx.count)
                    ws.generate(p, data, UnsafeBufferPointer(rebasing: idx[lo..<hi]), into: o + lo * perImage)
                    guard let next = queue.take() else { break }
                    c = next
                } while true
            }
        }
        return out
    }
}

/// Per-worker buffers for generating `capacity` sequences at once, one step at a time.
public final class GenerationWorkspace: @unchecked Sendable {
    let layout: ParameterLayout
    let capacity: Int
    let x: FloatBuffer
    let gates: FloatBuffer
    let cells: [FloatBuffer]
    let hiddens: [FloatBuffer]
    let tanhCells: FloatBuffer
    let y: FloatBuffer
    let weights: PackedForwardWeights

    public init(layout: ParameterLayout, capacity: Int) {
        self.layout = layout
        self.capacity = capacity
        let c = layout.config, h = c.hidden
        x = FloatBuffer(count: capacity * c.inputSize)
        gates = FloatBuffer(count: capacity * 4 * h)
        cells = (0..<c.layers).map { _ in FloatBuffer(count: capacity * h) }
        hiddens = (0..<c.layers).map { _ in FloatBuffer(count: capacity * h) }
        tanhCells = FloatBuffer(count: capacity * h)
        y = FloatBuffer(count: capacity * c.outputSize)
        weights = PackedForwardWeights(layout: layout)
    }

    public func prepare(_ params: UnsafePointer<Float>) { weights.update(from: params) }

    /// Writes the 8 generated patches of each sequence to out[b * 8 * 49 ...].
    public func generate(_ params: UnsafePointer<Float>, _ data: PatchSet, _ indices: UnsafeBufferPointer<Int>,
                         into out: UnsafeMutablePointer<Float>) {
        let n = indices.count
        precondition(n <= capacity)
        let c = layout.config, h = c.hidden, g4 = 4 * h, d = c.inputSize, od = c.outputSize
        let top = Patches.topHalf, perImage = (Patches.count - top) * od
        for l in 0..<c.layers {
            cells[l].pointer.update(repeating: 0, count: n * h)
            hiddens[l].pointer.update(repeating: 0, count: n * h)
        }
        for t in 0..<(Patches.count - 1) {
            var input: UnsafePointer<Float>
            if t < top {
                for (b, i) in indices.enumerated() { (x.pointer + b * d).update(from: data.sequence(i) + t * d, count: d) }
                input = UnsafePointer(x.pointer)
            } else {
                input = UnsafePointer(y.pointer)  // the previous prediction
            }
            var inDim = d
            for l in 0..<c.layers {
                gemmPacked(m: n, n: g4, k: inDim, a: input, aRowStride: inDim, aColStride: 1, packedB: weights.inputHidden[l].pointer,
                           c: gates.pointer, ldc: g4, accumulate: false)
                if t > 0 {
                    gemmPacked(m: n, n: g4, k: h, a: hiddens[l].pointer, aRowStride: h, aColStride: 1, packedB: weights.hiddenHidden[l].pointer,
                               c: gates.pointer, ldc: g4, accumulate: true)
                }
                lstmCellForward(rows: n, hidden: h, gates: gates.pointer, bias: weights.biasSums[l].pointer,
                                cPrev: cells[l].pointer, cOut: cells[l].pointer,
                                tanhC: tanhCells.pointer, hOut: hiddens[l].pointer)
                input = UnsafePointer(hiddens[l].pointer)
                inDim = h
            }
            // Outputs before the last true patch are not used: the Dense layer runs from there on.
            if t >= top - 1 {
                gemmPacked(m: n, n: od, k: h, a: input, aRowStride: h, aColStride: 1, packedB: weights.dense.pointer,
                           c: y.pointer, ldc: od, accumulate: false)
                addBiasRows(y.pointer, rows: n, cols: od, bias: params + layout.denseBias.offset)
                // A generated patch is an image patch: pixels outside [0, 1] cannot be right,
                // so they are clipped both in the output and in what is fed back.
                clampInPlace(y.pointer, count: n * od, 0, 1)
                let k = t - (top - 1)
                for b in 0..<n { (out + b * perImage + k * od).update(from: y.pointer + b * od, count: od) }
            }
        }
    }
}
