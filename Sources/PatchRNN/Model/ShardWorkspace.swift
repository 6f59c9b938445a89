// Forward and backward of one shard (a fixed-size chunk of a minibatch) on one thread.
//
// Layout: time-major, row t * n + b for step t and sequence b of the n in the shard, so that
// one time step is a contiguous block and each layer's input projection over all steps, the
// Dense layer and every weight gradient are single GEMMs; only h W_hh^T runs per step.
//
//   patches [(T+1)n x in]  the 16 patches: rows 0..<Tn are inputs, rows n..<(T+1)n targets
//   per layer l:
//     gates [Tn x 4H]  activated i, f, g, o      c, h [(T+1)n x H] (block 0 = zero state)
//     tanhC [Tn x H]
//   y [Tn x out]
//
// The workspace is allocated once for a capacity (the shard size) by the thread that uses it,
// so that its pages are first touched on that thread's NUMA node; nothing allocates afterwards.
public final class ShardWorkspace: @unchecked Sendable {
    public let layout: ParameterLayout
    public let capacity: Int
    let config: ModelConfig
    let steps: Int

    let patches: FloatBuffer
    let gates: [FloatBuffer]
    let cells: [FloatBuffer]
    let hiddens: [FloatBuffer]
    let tanhCells: [FloatBuffer]
    let outputs: FloatBuffer
    let forwardWeights: PackedForwardWeights
    // Backward only.
    let dOutputs: FloatBuffer
    let dGates: FloatBuffer
    var dHiddenAbove: FloatBuffer
    var dHiddenBelow: FloatBuffer
    let dHiddenRecurrent: FloatBuffer
    let dCell: FloatBuffer
    // Weights packed into GEMM panels (see PackedGEMM.swift), once per optimizer step.
    let packedIH: [FloatBuffer]    // W_ih [4H x in]    (backward: dG W_ih)
    let packedHH: [FloatBuffer]    // W_hh [4H x H]     (backward: dG W_hh)
    let packedDense: FloatBuffer   // W_d [out x H]     (backward: dY W_d)
    let packedGrad: FloatBuffer    // dG or dY of one layer, packed for the weight-gradient GEMMs

    public init(layout: ParameterLayout, capacity: Int) {
        self.layout = layout
        self.capacity = capacity
        let config = layout.config
        self.config = config
        steps = config.steps
        let t = steps, n = capacity, h = config.hidden
        patches = FloatBuffer(count: (t + 1) * n * config.inputSize)
        gates = (0..<config.layers).map { _ in FloatBuffer(count: t * n * 4 * h) }
        cells = (0..<config.layers).map { _ in FloatBuffer(count: (t + 1) * n * h) }
        hiddens = (0..<config.layers).map { _ in FloatBuffer(count: (t + 1) * n * h) }
        tanhCells = (0..<config.layers).map { _ in FloatBuffer(count: t * n * h) }
        outputs = FloatBuffer(count: t * n * config.outputSize)
        forwardWeights = PackedForwardWeights(layout: layout)
        dOutputs = FloatBuffer(count: t * n * config.outputSize)
        dGates = FloatBuffer(count: t * n * 4 * h)
        dHiddenAbove = FloatBuffer(count: t * n * h)
        dHiddenBelow = FloatBuffer(count: t * n * h)
        dHiddenRecurrent = FloatBuffer(count: n * h)
        dCell = FloatBuffer(count: n * h)
        let out = config.outputSize
        packedIH = (0..<config.layers).map { FloatBuffer(count: packedCount(k: 4 * h, n: config.layerInputSize($0))) }
        packedHH = (0..<config.layers).map { _ in FloatBuffer(count: packedCount(k: 4 * h, n: h)) }
        packedDense = FloatBuffer(count: packedCount(k: out, n: h))
        packedGrad = FloatBuffer(count: max(packedCount(k: t * n, n: 4 * h), packedCount(k: t * n, n: out)))
    }

    // MARK: Loading a shard

    /// Gathers the sequences `indices` of `data` into the time-major patch block.
    public func load(_ data: PatchSet, indices: UnsafeBufferPointer<Int>) {
        let n = indices.count
        precondition(n <= capacity)
        let d = config.inputSize
        for (b, index) in indices.enumerated() {
            let seq = data.sequence(index)
            for t in 0...steps {
                (patches.pointer + (t * n + b) * d).update(from: seq + t * d, count: d)
            }
        }
    }

    // MARK: Forward

    /// Once per parameter version: packs the forward weights and sums b_ih + b_hh.
    public func prepareForward(_ params: UnsafePointer<Float>) { forwardWeights.update(from: params) }

    /// Teacher-forced forward of the `rows` loaded sequences. Returns the sum of squared errors
    /// of all rows x steps x out predictions.
    @discardableResult
    public func forward(_ params: UnsafePointer<Float>, rows n: Int) -> Double {
        let t = steps, h = config.hidden, g4 = 4 * h
        var x = UnsafePointer(patches.pointer)
        var xDim = config.inputSize
        for l in 0..<config.layers {
            let gts = gates[l].pointer, cs = cells[l].pointer, hs = hiddens[l].pointer, tcs = tanhCells[l].pointer
            gemmPacked(m: t * n, n: g4, k: xDim, a: x, aRowStride: xDim, aColStride: 1, packedB: forwardWeights.inputHidden[l].pointer,
                       c: gts, ldc: g4, accumulate: false)
            cs.update(repeating: 0, count: n * h)
            hs.update(repeating: 0, count: n * h)
            for s in 0..<t {
                let gs = gts + s * n * g4
                if s > 0 {
                    gemmPacked(m: n, n: g4, k: h, a: hs + s * n * h, aRowStride: h, aColStride: 1, packedB: forwardWeights.hiddenHidden[l].pointer,
                               c: gs, ldc: g4, accumulate: true)
                }
                lstmCellForward(rows: n, hidden: h, gates: gs, bias: forwardWeights.biasSums[l].pointer,
                                cPrev: cs + s * n * h, cOut: cs + (s + 1) * n * h,
                                tanhC: tcs + s * n * h, hOut: hs + (s + 1) * n * h)
            }
            x = UnsafePointer(hs + n * h)
            xDim = h
        }
        let out = config.outputSize
        let y = outputs.pointer
        gemmPacked(m: t * n, n: out, k: h, a: x, aRowStride: h, aColStride: 1, packedB: forwardWeights.dense.pointer,
                   c: y, ldc: out, accumulate: false)
        addBiasRows(y, rows: t * n, cols: out, bias: params + layout.denseBias.offset)
        return sumSquaredError(y, patches.pointer + n * config.inputSize, rowCount: t * n, cols: out)
    }

    // MARK: Backward

    /// Once per parameter version: packs W_ih, W_hh and W_d (PyTorch's layout, read as the
    /// transposes of the stored matrices) for the backward products dG W and dY W.
    public func prepareBackward(_ params: UnsafePointer<Float>) {
        let h = config.hidden, g4 = 4 * h
        for (l, v) in layout.lstm.enumerated() {
            packB(k: g4, n: v.weightIHt.rows, params + v.weightIHt.offset, rowStride: 1, colStride: g4, into: packedIH[l].pointer)
            packB(k: g4, n: h, params + v.weightHHt.offset, rowStride: 1, colStride: g4, into: packedHH[l].pointer)
        }
        let d = layout.denseWeightT
        packB(k: d.cols, n: h, params + d.offset, rowStride: 1, colStride: d.cols, into: packedDense.pointer)
    }

    /// Gradient of (sum of squared errors) x `lossScale` with respect to every parameter, for
    /// the shard that `forward` just ran, written (not added) into `grad` (parameter layout).
    /// For the minibatch mean, lossScale = 1 / (batch x steps x out).
    public func backward(_ params: UnsafePointer<Float>, rows n: Int, lossScale: Float,
                         grad: UnsafeMutablePointer<Float>) {
        let t = steps, h = config.hidden, g4 = 4 * h, out = config.outputSize, tn = t * n
        // dL/dy = 2 scale (y - target)
        let dy = dOutputs.pointer, y = outputs.pointer, target = patches.pointer + n * config.inputSize
        let twoScale = V8(repeating: 2 * lossScale)
        var i = 0
        let total = tn * out
        while i + 8 <= total { store8(twoScale * (load8(y + i) - load8(target + i)), dy + i); i += 8 }
        while i < total { dy[i] = 2 * lossScale * (y[i] - target[i]); i += 1 }

        let top = UnsafePointer(hiddens[config.layers - 1].pointer + n * h)
        let pg = packedGrad.pointer
        packB(k: tn, n: out, dy, rowStride: out, colStride: 1, into: pg)
        gemmPacked(m: h, n: out, k: tn, a: top, aRowStride: 1, aColStride: h, packedB: pg,
                   c: grad + layout.denseWeightT.offset, ldc: out, accumulate: false)
        columnSums(dy, rows: tn, cols: out, into: grad + layout.denseBias.offset)
        gemmPacked(m: tn, n: h, k: out, a: dy, aRowStride: out, aColStride: 1, packedB: packedDense.pointer,
                   c: dHiddenAbove.pointer, ldc: h, accumulate: false)

        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let v = layout.lstm[l]
            let gts = gates[l].pointer, cs = cells[l].pointer, hs = hiddens[l].pointer, tcs = tanhCells[l].pointer
            let dg = dGates.pointer, dha = dHiddenAbove.pointer
            let dhr = dHiddenRecurrent.pointer, dc = dCell.pointer
            dhr.update(repeating: 0, count: n * h)
            dc.update(repeating: 0, count: n * h)
            for s in stride(from: t - 1, through: 0, by: -1) {
                lstmCellBackward(rows: n, hidden: h, gates: gts + s * n * g4, cPrev: cs + s * n * h,
                                 tanhC: tcs + s * n * h, dhAbove: dha + s * n * h, dhRecurrent: dhr,
                                 dc: dc, dGates: dg + s * n * g4)
                if s > 0 {
                    gemmPacked(m: n, n: h, k: g4, a: dg + s * n * g4, aRowStride: g4, aColStride: 1, packedB: packedHH[l].pointer,
                               c: dhr, ldc: h, accumulate: false)
                }
            }
            packB(k: tn, n: g4, dg, rowStride: g4, colStride: 1, into: pg)
            // h_0 = 0, so step 0 adds nothing to dW_hh: sum over steps 1..T-1 (rows n..<Tn of dG).
            gemmPacked(m: h, n: g4, k: (t - 1) * n, a: hs + n * h, aRowStride: 1, aColStride: h,
                       packedB: pg + n * 16, panelStride: tn * 16, c: grad + v.weightHHt.offset, ldc: g4, accumulate: false)
            let xDim = config.layerInputSize(l)
            let x = l == 0 ? UnsafePointer(patches.pointer) : UnsafePointer(hiddens[l - 1].pointer + n * h)
            gemmPacked(m: xDim, n: g4, k: tn, a: x, aRowStride: 1, aColStride: xDim, packedB: pg,
                       c: grad + v.weightIHt.offset, ldc: g4, accumulate: false)
            columnSums(dg, rows: tn, cols: g4, into: grad + v.biasIH.offset)
            (grad + v.biasHH.offset).update(from: grad + v.biasIH.offset, count: g4)
            if l > 0 {
                gemmPacked(m: tn, n: h, k: g4, a: dg, aRowStride: g4, aColStride: 1, packedB: packedIH[l].pointer,
                           c: dHiddenBelow.pointer, ldc: h, accumulate: false)
                swap(&dHiddenAbove, &dHiddenBelow)
            }
        }
    }
}

// MARK: Small row/column helpers (SIMD bodies, scalar tails, fixed summation order)

@inline(__always)
func addBiasRows(_ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
    for r in 0..<rows {
        let row = y + r * cols
        var j = 0
        while j + 8 <= cols { store8(load8(row + j) + load8(bias + j), row + j); j += 8 }
        while j < cols { row[j] += bias[j]; j += 1 }
    }
}

/// dst[j] = sum over rows of src[r, j], rows added in order.
@inline(__always)
func columnSums(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
    dst.update(repeating: 0, count: cols)
    for r in 0..<rows {
        let row = src + r * cols
        var j = 0
        while j + 8 <= cols { store8(load8(dst + j) + load8(row + j), dst + j); j += 8 }
        while j < cols { dst[j] += row[j]; j += 1 }
    }
}

/// Sum of (a - b)^2 over `rowCount` rows of `cols`; each row in Float, rows added in Double.
@inline(__always)
func sumSquaredError(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rowCount: Int, cols: Int) -> Double {
    var total = 0.0
    for r in 0..<rowCount {
        let pa = a + r * cols, pb = b + r * cols
        var acc = V8()
        var j = 0
        while j + 8 <= cols { let d = load8(pa + j) - load8(pb + j); acc.addProduct(d, d); j += 8 }
        var s = acc.sum()
        while j < cols { let d = pa[j] - pb[j]; s += d * d; j += 1 }
        total += Double(s)
    }
    return total
}
