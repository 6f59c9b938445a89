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
///
/// Each layer's step is one GEMM: its rows are [x_t | h_{t-1}] side by side and its weights
/// [W_ih^T ; W_hh^T] stacked along k, so the gate block is written once instead of being
/// written by x W_ih^T and read back for + h W_hh^T (64 KiB per layer and step, more than
/// L1). The products are added in the same order as the two GEMMs did: the same results.
public final class GenerationWorkspace: @unchecked Sendable {
    let layout: ParameterLayout
    let capacity: Int
    /// Per layer: [capacity x (in + H)], row b = [x_t | h_{t-1}] of sequence b.
    let stackedInputs: [FloatBuffer]
    /// Per layer: [W_ih^T ; W_hh^T], (in + H) x 4H, packed.
    let stackedWeights: [FloatBuffer]
    let biasSums: [FloatBuffer]
    let denseWeights: FloatBuffer
    let gates: FloatBuffer
    let cells: [FloatBuffer]
    let hiddens: FloatBuffer
    let tanhCells: FloatBuffer
    let y: FloatBuffer

    public init(layout: ParameterLayout, capacity: Int) {
        self.layout = layout
        self.capacity = capacity
        let c = layout.config, h = c.hidden
        stackedInputs = (0..<c.layers).map { FloatBuffer(count: capacity * (c.layerInputSize($0) + h)) }
        stackedWeights = (0..<c.layers).map { FloatBuffer(count: packedCount(k: c.layerInputSize($0) + h, n: 4 * h)) }
        biasSums = (0..<c.layers).map { _ in FloatBuffer(count: 4 * h) }
        denseWeights = FloatBuffer(count: packedCount(k: h, n: c.outputSize))
        gates = FloatBuffer(count: capacity * 4 * h)
        cells = (0..<c.layers).map { _ in FloatBuffer(count: capacity * h) }
        hiddens = FloatBuffer(count: capacity * h)
        tanhCells = FloatBuffer(count: capacity * h)
        y = FloatBuffer(count: capacity * c.outputSize)
    }

    /// Once per parameter version: packs the stacked and Dense weights, sums the biases.
    public func prepare(_ params: UnsafePointer<Float>) {
        let c = layout.config, h = c.hidden, g4 = 4 * h
        for (l, v) in layout.lstm.enumerated() {
            let inDim = c.layerInputSize(l), ps = (inDim + h) * 16
            let s = biasSums[l].pointer
            for j in 0..<g4 { s[j] = params[v.biasIH.offset + j] + params[v.biasHH.offset + j] }
            packB(k: inDim, n: g4, params + v.weightIHt.offset, rowStride: g4, colStride: 1,
                  into: stackedWeights[l].pointer, panelStride: ps)
            packB(k: h, n: g4, params + v.weightHHt.offset, rowStride: g4, colStride: 1,
                  into: stackedWeights[l].pointer + inDim * 16, panelStride: ps)
        }
        let d = layout.denseWeightT
        packB(k: d.rows, n: d.cols, params + d.offset, rowStride: d.cols, colStride: 1, into: denseWeights.pointer)
    }

    /// Writes the 8 generated patches of each sequence to out[b * 8 * 49 ...].
    public func generate(_ params: UnsafePointer<Float>, _ data: PatchSet, _ indices: UnsafeBufferPointer<Int>,
                         into out: UnsafeMutablePointer<Float>) {
        let n = indices.count
        precondition(n <= capacity)
        let c = layout.config, h = c.hidden, g4 = 4 * h, d = c.inputSize, od = c.outputSize
        let top = Patches.topHalf, perImage = (Patches.count - top) * od
        for l in 0..<c.layers {
            cells[l].pointer.update(repeating: 0, count: n * h)
            stackedInputs[l].pointer.update(repeating: 0, count: n * (c.layerInputSize(l) + h))  // h_0 = 0
        }
        let x0 = stackedInputs[0].pointer, x0Stride = d + h
        for t in 0..<(Patches.count - 1) {
            // Layer 0's input: the true patch t, or the previous (clipped) prediction.
            for b in 0..<n {
                let source = t < top ? data.sequence(indices[b]) + t * d : UnsafePointer(y.pointer + b * od)
                (x0 + b * x0Stride).update(from: source, count: d)
            }
            for l in 0..<c.layers {
                let inDim = c.layerInputSize(l), stride = inDim + h, rows = stackedInputs[l].pointer
                gemmPacked(m: n, n: g4, k: stride, a: rows, aRowStride: stride, aColStride: 1,
                           packedB: stackedWeights[l].pointer, c: gates.pointer, ldc: g4, accumulate: false)
                lstmCellForward(rows: n, hidden: h, gates: gates.pointer, bias: biasSums[l].pointer,
                                cPrev: cells[l].pointer, cOut: cells[l].pointer,
                                tanhC: tanhCells.pointer, hOut: hiddens.pointer)
                // h_t goes to this layer's next step and to the next layer's input.
                for b in 0..<n {
                    let hb = hiddens.pointer + b * h
                    (rows + b * stride + inDim).update(from: hb, count: h)
                    if l + 1 < c.layers { (stackedInputs[l + 1].pointer + b * (h + h)).update(from: hb, count: h) }
                }
            }
            // Outputs before the last true patch are not used: the Dense layer runs from there on.
            if t >= top - 1 {
                gemmPacked(m: n, n: od, k: h, a: hiddens.pointer, aRowStride: h, aColStride: 1, packedB: denseWeights.pointer,
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
