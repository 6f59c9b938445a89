import PatchRNNKernels

// Forward and backward of one shard (a fixed-size chunk of a minibatch) on one thread, for any
// cell: the workspace does the products that cover all time steps at once, the cell does the
// recurrence between them.
//
// Layout: time-major, row t * n + b for step t and sequence b of the n in the shard, so that
// one time step is a contiguous block and each layer's input projection over all steps, the
// Dense layer and every weight gradient are single GEMMs; only the hidden projection runs per
// step (inside the cell).
//
//   patches [(T+1)n x in]  the 16 patches: rows 0..<Tn are inputs, rows n..<(T+1)n targets
//   inputs [Tn x in]  (training only) the inputs as fed under scheduled sampling: true
//                     patches, and the model's own clipped predictions where a draw says so
//   per layer l: h [(T+1)n x H] (block 0 = h_0 = 0) and the cell's forward buffers
//   y [Tn x out]
//   backward: dY [Tn x out], dL/dh from above and for the layer below [Tn x H] each, the
//   cell's scratch, and one buffer to pack an activation gradient into for a weight gradient.
//
// All of it is one allocation laid out by `plan`, which the memory estimate reads too. It is
// allocated once for a capacity (the shard size) by the thread that uses it, so that its pages
// are first touched on that thread's NUMA node; nothing allocates afterwards.
public final class ShardWorkspace: @unchecked Sendable {
    public let layout: ParameterLayout
    public let capacity: Int
    public let includesBackward: Bool
    let config: ModelConfig
    let cell: any RecurrentCell.Type
    let steps: Int

    private let block: BufferBlock
    let patches: UnsafeMutablePointer<Float>
    let sampledInputs: UnsafeMutablePointer<Float>
    /// Layer 0's input in the last forward: the true patches, or `sampledInputs`.
    private var layerZeroInput: UnsafePointer<Float>
    let hiddens: [UnsafeMutablePointer<Float>]
    let cellBuffers: [[UnsafeMutablePointer<Float>]]
    let outputPointer: UnsafeMutablePointer<Float>
    let weights: PackedWeights
    // Backward only (in a forward-only workspace these point at the start of the block and are
    // never used: `backward` and `prepareBackward` refuse to run there).
    let dOutputs: UnsafeMutablePointer<Float>
    var dHiddenAbove: UnsafeMutablePointer<Float>
    var dHiddenBelow: UnsafeMutablePointer<Float>
    let cellScratch: [UnsafeMutablePointer<Float>]
    let packedGrad: UnsafeMutablePointer<Float>

    /// The buffers of a workspace: indices into one plan.
    struct Buffers {
        var plan = BufferPlan()
        var patches = 0, sampledInputs = 0, outputs = 0, dOutputs = 0, dHiddenAbove = 0, dHiddenBelow = 0, packedGrad = 0
        var hiddens: [Int] = [], cellForward: [[Int]] = [], cellBackward: [Int] = []

        init(_ c: ModelConfig, capacity n: Int, backward: Bool, format: PanelFormat) {
            let t = c.steps, h = c.hidden, gh = c.cell.gateCount * h
            patches = plan.add((t + 1) * n * c.inputSize)
            for l in 0..<c.layers {
                hiddens.append(plan.add((t + 1) * n * h))
                cellForward.append(plan.add(c.cell.forwardBuffers(c.layerShape(l, rows: n))))
            }
            outputs = plan.add(t * n * c.outputSize)
            guard backward else { return }
            sampledInputs = plan.add(t * n * c.inputSize)
            dOutputs = plan.add(t * n * c.outputSize)
            dHiddenAbove = plan.add(t * n * h)
            dHiddenBelow = plan.add(t * n * h)
            cellBackward = plan.add(c.cell.backwardBuffers(c.layerShape(0, rows: n)))
            packedGrad = plan.add(max(format.floats(k: t * n, n: gh), format.floats(k: t * n, n: c.outputSize)))
        }
    }

    static func forms(backward: Bool) -> PackedForms { backward ? [.forward, .backward] : [.forward] }

    /// Floats one workspace allocates (its buffers and its packed weights).
    public static func floats(_ layout: ParameterLayout, capacity: Int, backward: Bool = true, format: PanelFormat = .preferred) -> Int {
        Buffers(layout.config, capacity: capacity, backward: backward, format: format).plan.floats
            + PackedWeights.floats(layout, forms: forms(backward: backward), format: format)
    }

    /// `format`: the GEMM tile (and so the packing) its products use.
    public init(layout: ParameterLayout, capacity: Int, backward: Bool = true, format: PanelFormat = .preferred) {
        self.layout = layout
        self.capacity = capacity
        includesBackward = backward
        let config = layout.config
        self.config = config
        cell = config.cell
        steps = config.steps
        let b = Buffers(config, capacity: capacity, backward: backward, format: format)
        let block = BufferBlock(b.plan)
        self.block = block
        patches = block[b.patches]
        sampledInputs = block[b.sampledInputs]
        layerZeroInput = UnsafePointer(patches)
        hiddens = block.pointers(b.hiddens)
        cellBuffers = b.cellForward.map { block.pointers($0) }
        outputPointer = block[b.outputs]
        weights = PackedWeights(layout: layout, forms: Self.forms(backward: backward), format: format)
        dOutputs = block[b.dOutputs]
        dHiddenAbove = block[b.dHiddenAbove]
        dHiddenBelow = block[b.dHiddenBelow]
        cellScratch = block.pointers(b.cellBackward)
        packedGrad = block[b.packedGrad]
    }

    /// Floats this workspace allocated (its buffers and its packed weights).
    public var allocatedFloats: Int { block.floats + weights.allocatedFloats }

    /// The outputs of the last forward, [Tn x out] time-major.
    public var outputs: UnsafeMutablePointer<Float> { outputPointer }

    // MARK: Loading a shard

    /// Gathers the sequences `indices` of `data` into the time-major patch block.
    public func load(_ data: PatchSet, indices: UnsafeBufferPointer<Int>) {
        let n = indices.count
        precondition(n <= capacity)
        let d = config.inputSize
        for (b, index) in indices.enumerated() {
            let seq = data.sequence(index)
            for t in 0...steps {
                (patches + (t * n + b) * d).update(from: seq + t * d, count: d)
            }
        }
    }

    // MARK: Forward

    /// Once per parameter version: packs the forward weights.
    public func prepareForward(_ params: UnsafePointer<Float>) { weights.update(from: params, .forward) }

    /// Forward of the `rows` loaded sequences: teacher-forced, or (with `feedback`, in
    /// training) with scheduled sampling. Returns the sum of squared errors of all rows x
    /// steps x out predictions against the true next patches.
    @discardableResult
    public func forward(_ params: UnsafePointer<Float>, rows n: Int, feedback: FeedbackDraw? = nil) -> Double {
        if let feedback, feedback.probability > 0, includesBackward {
            return sampledForward(params, rows: n, feedback: feedback)
        }
        layerZeroInput = UnsafePointer(patches)
        let t = steps, h = config.hidden, gh = cell.gateCount * h
        var x = UnsafePointer(patches)
        var xDim = config.inputSize
        for l in 0..<config.layers {
            let w = weights.layer(l), hs = hiddens[l], buffers = cellBuffers[l]
            gemm(m: t * n, a: x, aRowStride: xDim, b: w.inputT, c: buffers[0], ldc: gh, accumulate: false)
            hs.update(repeating: 0, count: n * h)
            cell.forward(buffers, h: hs, rows: n, steps: 0..<t, shape: config.layerShape(l, rows: capacity), weights: w)
            x = UnsafePointer(hs + n * h)
            xDim = h
        }
        let out = config.outputSize
        let y = outputPointer
        gemm(m: t * n, a: x, aRowStride: h, b: weights.denseT, c: y, ldc: out, accumulate: false)
        addBiasRows(y, rows: t * n, cols: out, bias: params + layout.denseBias.offset)
        return sumSquaredError(y, patches + n * config.inputSize, rowCount: t * n, cols: out)
    }

    /// Scheduled sampling: the top-half steps as in teacher forcing (each layer's input
    /// projection one GEMM over those steps), then each bottom-half step through every layer
    /// and the Dense layer, so that its prediction, clipped to [0, 1], can be the next input
    /// of the rows whose draw says so. Backward then reads the inputs as fed.
    private func sampledForward(_ params: UnsafePointer<Float>, rows n: Int, feedback: FeedbackDraw) -> Double {
        let t = steps, h = config.hidden, gh = cell.gateCount * h, d = config.inputSize, out = config.outputSize
        precondition(out == d, "feeding predictions back needs outputs shaped like inputs")
        let top = min(Patches.topHalf, t), y = outputPointer, bias = params + layout.denseBias.offset
        sampledInputs.update(from: patches, count: t * n * d)
        layerZeroInput = UnsafePointer(sampledInputs)
        // Steps [first, last) of every layer, then of the Dense layer.
        func run(_ range: Range<Int>) {
            let rows = range.count * n, r0 = range.lowerBound * n
            var x = UnsafePointer(sampledInputs) + r0 * d, xDim = d
            for l in 0..<config.layers {
                let w = weights.layer(l), hs = hiddens[l], buffers = cellBuffers[l]
                gemm(m: rows, a: x, aRowStride: xDim, b: w.inputT, c: buffers[0] + r0 * gh, ldc: gh, accumulate: false)
                if range.lowerBound == 0 { hs.update(repeating: 0, count: n * h) }
                cell.forward(buffers, h: hs, rows: n, steps: range, shape: config.layerShape(l, rows: capacity), weights: w)
                x = UnsafePointer(hs + (r0 + n) * h)
                xDim = h
            }
            gemm(m: rows, a: x, aRowStride: h, b: weights.denseT, c: y + r0 * out, ldc: out, accumulate: false)
            addBiasRows(y + r0 * out, rows: rows, cols: out, bias: bias)
        }
        run(0..<top)
        for s in top..<t {
            for b in 0..<n where feedback.feedsBack(row: b, step: s) {
                let prediction = y + ((s - 1) * n + b) * out, input = sampledInputs + (s * n + b) * d
                for j in 0..<d { input[j] = min(max(prediction[j], 0), 1) }
            }
            run(s..<(s + 1))
        }
        return sumSquaredError(y, patches + n * d, rowCount: t * n, cols: out)
    }

    // MARK: Backward

    /// Once per parameter version: packs W_ih, W_hh and W_d (PyTorch's layout, read as the
    /// transposes of the stored matrices) for the backward products dG W and dY W.
    public func prepareBackward(_ params: UnsafePointer<Float>) {
        precondition(includesBackward)
        weights.update(from: params, .backward)
    }

    /// Gradient of (sum of squared errors) x `lossScale` with respect to every parameter, for
    /// the shard that `forward` just ran, written (not added) into `grad` (parameter layout).
    /// For the minibatch mean, lossScale = 1 / (batch x steps x out).
    public func backward(_ params: UnsafePointer<Float>, rows n: Int, lossScale: Float,
                         grad: UnsafeMutablePointer<Float>) {
        precondition(includesBackward)
        let t = steps, h = config.hidden, gh = cell.gateCount * h, out = config.outputSize, tn = t * n
        let dy = dOutputs
        squaredErrorGradient(outputPointer, patches + n * config.inputSize, count: tn * out, scale: lossScale, into: dy)

        let top = UnsafePointer(hiddens[config.layers - 1] + n * h)
        let fmt = weights.format
        // The activation gradient of a weight-gradient GEMM (its B), packed once per use.
        let dyPacked = PackedMatrix(base: packedGrad, k: tn, n: out, format: fmt)
        dyPacked.pack(dy, rowStride: out)
        gemm(m: h, a: top, aRowStride: 1, aColStride: h, b: dyPacked, c: grad + layout.denseWeightT.offset, ldc: out, accumulate: false)
        columnSums(dy, rows: tn, cols: out, into: grad + layout.denseBias.offset)
        gemm(m: tn, a: dy, aRowStride: out, b: weights.dense, c: dHiddenAbove, ldc: h, accumulate: false)

        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let v = layout.layers[l], w = weights.layer(l), hs = hiddens[l]
            let (dInput, dHidden) = cell.backward(cellBuffers[l], scratch: cellScratch, h: hs, dhAbove: dHiddenAbove,
                                                  rows: n, shape: config.layerShape(l, rows: capacity), weights: w)
            let dG = PackedMatrix(base: packedGrad, k: tn, n: gh, format: fmt)
            // h_0 = 0, so step 0 adds nothing to dW_hh: sum over steps 1..T-1 (rows n..<Tn).
            dG.pack(dHidden, rowStride: gh)
            gemm(m: h, a: hs + n * h, aRowStride: 1, aColStride: h, b: dG.rows(n..<tn), c: grad + v.weightHHt.offset, ldc: gh, accumulate: false)
            if dHidden != dInput { dG.pack(dInput, rowStride: gh) }
            let xDim = config.layerInputSize(l)
            let x = l == 0 ? layerZeroInput : UnsafePointer(hiddens[l - 1] + n * h)
            gemm(m: xDim, a: x, aRowStride: 1, aColStride: xDim, b: dG, c: grad + v.weightIHt.offset, ldc: gh, accumulate: false)
            columnSums(dInput, rows: tn, cols: gh, into: grad + v.biasIH.offset)
            if dHidden == dInput {
                (grad + v.biasHH.offset).update(from: grad + v.biasIH.offset, count: gh)
            } else {
                columnSums(dHidden, rows: tn, cols: gh, into: grad + v.biasHH.offset)
            }
            if l > 0 {
                gemm(m: tn, a: dInput, aRowStride: gh, b: w.input, c: dHiddenBelow, ldc: h, accumulate: false)
                swap(&dHiddenAbove, &dHiddenBelow)
            }
        }
    }
}
