import PatchRNNKernels

// Forward and backward of a block of consecutive shards on one thread, for any cell: the
// workspace does the products that cover all time steps at once, the cell does the recurrence
// between them.
//
// Blocks for compute, shards for the sum. Everything that is independent per sequence (the
// input projections, the recurrence, the Dense layer, the propagation of dL/dh and dL/dx) runs
// on all rows of the block at once, so a block of 16 shards of 4 costs 64-row GEMMs, not
// 4-row ones. Only the weight gradients are per shard: each shard's go to a buffer of its own
// (or are folded into the running sum, see `GradientSink`), and the engine sums the shards in
// shard order. A row's result does not depend on which block it is in (every per-row product
// is the plain k-ordered sum, `RowTails.sequential`), and a shard's gradient is computed from
// the same values in the same order whatever block it is in, so the cut into blocks (which
// depends on the thread count) changes no result.
//
// Layout: time-major, row t * N + r for step t and row r of the N in the block (the block's
// shards one after the other), so that one time step is a contiguous block and each layer's
// input projection over all steps and the Dense layer are single GEMMs; only the hidden
// projection runs per step (inside the cell).
//
//   patches [(T+1)N x in]  the 16 patches: rows 0..<TN are inputs, rows N..<(T+1)N targets
//   inputs [TN x in]  (training only) the inputs as fed under scheduled sampling: true
//                     patches, and the model's own clipped predictions where a draw says so
//   per layer l: h [(T+1)N x H] (block 0 = h_0 = 0) and the cell's forward buffers
//   y [TN x out]
//   backward: dY [TN x out], dL/dh from above and for the layer below [TN x H] each, the
//   cell's scratch; per shard, the rows of one operand of a weight gradient gathered into the
//   shard's own time-major order [Tn x max(in, H)], and the activation gradient packed as B.
//
// All of it is one allocation laid out by one plan, which the memory estimate reads too. It is
// allocated once for a capacity (the largest block) by the thread that uses it, so that its
// pages are first touched on that thread's NUMA node; nothing allocates afterwards.
public final class BlockWorkspace: @unchecked Sendable {
    public let layout: ParameterLayout
    /// Rows of the largest block.
    public let capacity: Int
    /// Rows of a shard: the block's shard j is rows [j * shardSize, (j + 1) * shardSize) (the
    /// last may be smaller).
    public let shardSize: Int
    public let includesBackward: Bool
    let config: ModelConfig
    let cell: any RecurrentCell.Type
    let steps: Int

    /// The one allocation all the buffers below are in (tests fill its gaps with guard values).
    let storage: BufferBlock
    let patches: UnsafeMutablePointer<Float>
    let sampledInputs: UnsafeMutablePointer<Float>
    /// Layer 0's input in the last forward: the true patches, or `sampledInputs`.
    private var layerZeroInput: UnsafePointer<Float>
    let hiddens: [UnsafeMutablePointer<Float>]
    /// The cell's buffers of every layer (and backward's scratch), typed by the cell.
    let cellLayers: any TrainingCellLayers
    let outputPointer: UnsafeMutablePointer<Float>
    let weights: PackedWeights
    // Backward only (in a forward-only workspace these point at the patches and are never
    // used: `backward` and `prepareBackward` refuse to run there).
    let dOutputs: UnsafeMutablePointer<Float>
    var dHiddenAbove: UnsafeMutablePointer<Float>
    var dHiddenBelow: UnsafeMutablePointer<Float>
    let gathered: UnsafeMutablePointer<Float>
    let packedGrad: UnsafeMutablePointer<Float>

    /// The workspace's buffers and its cell's, each declared once with its size: the same
    /// declarations plan the allocation (and the memory estimate) and bind the pointers.
    struct Buffers {
        let patches, sampledInputs, outputs, dOutputs, dHiddenAbove, dHiddenBelow, gathered, packedGrad: UnsafeMutablePointer<Float>
        let hiddens: [UnsafeMutablePointer<Float>]
        let cell: any TrainingCellLayers

        init(_ d: inout BufferDeclarations, config c: ModelConfig, capacity n: Int, shardSize: Int, backward: Bool, format: PanelFormat) {
            let t = c.steps, h = c.hidden, gh = c.cell.gateCount * h
            patches = d.buffer("patches", (t + 1) * n * c.inputSize)
            var hiddens: [UnsafeMutablePointer<Float>] = []
            for l in 0..<c.layers { hiddens.append(d.buffer("layer \(l): h", (t + 1) * n * h)) }
            self.hiddens = hiddens
            cell = declareTrainingLayers(c.cell, &d, config: c, rows: n, backward: backward)
            outputs = d.buffer("outputs", t * n * c.outputSize)
            guard backward else {
                (sampledInputs, dOutputs, dHiddenAbove, dHiddenBelow, gathered, packedGrad) = (
                    patches, patches, patches, patches, patches, patches
                )
                return
            }
            let shardRows = t * min(shardSize, n)
            sampledInputs = d.buffer("inputs as fed", t * n * c.inputSize)
            dOutputs = d.buffer("dOutputs", t * n * c.outputSize)
            dHiddenAbove = d.buffer("dL/dh from above", t * n * h)
            dHiddenBelow = d.buffer("dL/dh for below", t * n * h)
            gathered = d.buffer("a shard's rows", shardRows * max(c.inputSize, h))
            packedGrad = d.buffer(
                "a shard's gradient, packed",
                max(format.floats(k: shardRows, n: gh), format.floats(k: shardRows, n: c.outputSize)))
        }
    }

    static func forms(backward: Bool) -> PackedForms { backward ? [.forward, .backward] : [.forward] }

    /// Floats one workspace allocates (its buffers and its packed weights).
    public static func floats(
        _ layout: ParameterLayout, capacity: Int, shardSize: Int, backward: Bool = true,
        format: PanelFormat = .preferred, gateOrder: GateOrder = .grouped
    ) -> Int {
        var planning = BufferDeclarations.planning()
        _ = Buffers(&planning, config: layout.config, capacity: capacity, shardSize: shardSize, backward: backward, format: format)
        return planning.plan.floats + PackedWeights.floats(layout, forms: forms(backward: backward), format: format, gateOrder: gateOrder)
    }

    /// `capacity`: rows of the largest block; `shardSize`: rows of a shard (the unit of the
    /// weight gradients); `format`: the GEMM tile (and so the packing) its products use;
    /// `gateOrder`: grouped (the recurrent steps fused) or PyTorch's (for tests); `guardFloats`:
    /// the gap between buffers (tests widen it and fill it with guard values).
    public init(
        layout: ParameterLayout, capacity: Int, shardSize: Int, backward: Bool = true, format: PanelFormat = .preferred,
        gateOrder: GateOrder = .grouped, guardFloats: Int = 16
    ) {
        precondition(capacity >= 1 && shardSize >= 1)
        self.layout = layout
        self.capacity = capacity
        self.shardSize = shardSize
        includesBackward = backward
        let config = layout.config
        self.config = config
        cell = config.cell
        steps = config.steps
        var planning = BufferDeclarations.planning(gap: guardFloats)
        _ = Buffers(&planning, config: config, capacity: capacity, shardSize: shardSize, backward: backward, format: format)
        storage = BufferBlock(planning.plan, what: "a worker's training buffers")
        var binding = BufferDeclarations.binding(storage)
        let b = Buffers(&binding, config: config, capacity: capacity, shardSize: shardSize, backward: backward, format: format)
        patches = b.patches
        sampledInputs = b.sampledInputs
        layerZeroInput = UnsafePointer(patches)
        hiddens = b.hiddens
        cellLayers = b.cell
        outputPointer = b.outputs
        weights = PackedWeights(layout: layout, forms: Self.forms(backward: backward), format: format, gateOrder: gateOrder)
        dOutputs = b.dOutputs
        dHiddenAbove = b.dHiddenAbove
        dHiddenBelow = b.dHiddenBelow
        gathered = b.gathered
        packedGrad = b.packedGrad
    }

    /// Floats this workspace allocated (its buffers and its packed weights).
    public var allocatedFloats: Int { storage.floats + weights.allocatedFloats }

    /// The outputs of the last forward, [TN x out] time-major.
    public var outputs: UnsafeMutablePointer<Float> { outputPointer }

    /// The rows of a block of `rows` rows, cut into this workspace's shards.
    @inline(__always)
    func block(_ rows: Int) -> BlockRows { BlockRows(count: rows, shardSize: shardSize) }

    /// Shards in a block of `rows` rows.
    public func shardCount(rows: Int) -> Int { block(rows).shards }

    // MARK: Loading a block

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
    /// training) with scheduled sampling. Writes each shard's sum of squared errors (all its
    /// rows x steps x out predictions against the true next patches) to `shardLosses[j]`.
    public func forward(
        _ params: UnsafePointer<Float>, rows n: Int, feedback: FeedbackDraw? = nil,
        shardLosses: UnsafeMutablePointer<Double>
    ) {
        precondition(n >= 1 && n <= capacity)
        if let feedback, feedback.probability > 0, includesBackward {
            sampledForward(params, rows: n, feedback: feedback)
        } else {
            teacherForcedForward(params, rows: n)
        }
        let out = config.outputSize, y = UnsafePointer(outputPointer), target = UnsafePointer(patches + n * config.inputSize)
        // Each shard's rows in its own order (step, then sequence), as a shard alone would sum them.
        let rows = block(n)
        for j in 0..<rows.shards {
            let r = rows.shard(j)
            var sse = 0.0
            for t in 0..<steps {
                let first = (t * n + r.lowerBound) * out
                sse = sumSquaredError(y + first, target + first, rowCount: r.count, cols: out, addingTo: sse)
            }
            shardLosses[j] = sse
        }
    }

    /// The sum of squared errors of all rows (a forward of one shard, for tests and benchmarks).
    @discardableResult
    public func forward(_ params: UnsafePointer<Float>, rows n: Int, feedback: FeedbackDraw? = nil) -> Double {
        let shards = shardCount(rows: n)
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: shards) { losses in
            forward(params, rows: n, feedback: feedback, shardLosses: losses.baseAddress!)
            return losses.reduce(0, +)
        }
    }

    private func teacherForcedForward(_ params: UnsafePointer<Float>, rows n: Int) {
        layerZeroInput = UnsafePointer(patches)
        let t = steps, h = config.hidden, gh = cell.gateCount * h, rows = block(n)
        var x = UnsafePointer(patches)
        var xDim = config.inputSize
        for l in 0..<config.layers {
            let w = weights.layer(l), hs = hiddens[l]
            rows.gemm(steps: t, a: x, aRowStride: xDim, b: w.inputT, c: cellLayers.inputProjection(layer: l), ldc: gh, accumulate: false)
            hs.update(repeating: 0, count: n * h)
            cellLayers.forward(layer: l, h: hs, rows: rows, steps: 0..<t, shape: config.layerShape(l, rows: capacity), weights: w)
            x = UnsafePointer(hs + n * h)
            xDim = h
        }
        let out = config.outputSize
        rows.gemm(steps: t, a: x, aRowStride: h, b: weights.denseT, c: outputPointer, ldc: out, accumulate: false)
        addBiasRows(outputPointer, rows: t * n, cols: out, bias: params + layout.denseBias.offset)
    }

    /// Scheduled sampling: the top-half steps as in teacher forcing (each layer's input
    /// projection one GEMM over those steps), then each bottom-half step through every layer
    /// and the Dense layer, so that its prediction, clipped to [0, 1], can be the next input
    /// of the rows whose draw says so. Backward then reads the inputs as fed.
    private func sampledForward(_ params: UnsafePointer<Float>, rows n: Int, feedback: FeedbackDraw) {
        let t = steps, h = config.hidden, gh = cell.gateCount * h, d = config.inputSize, out = config.outputSize
        precondition(out == d, "feeding predictions back needs outputs shaped like inputs")
        let top = min(Patches.topHalf, t), y = outputPointer, bias = params + layout.denseBias.offset
        let rows = block(n)
        sampledInputs.update(from: patches, count: t * n * d)
        layerZeroInput = UnsafePointer(sampledInputs)
        // Steps [first, last) of every layer, then of the Dense layer.
        func run(_ range: Range<Int>) {
            let r0 = range.lowerBound * n
            var x = UnsafePointer(sampledInputs) + r0 * d, xDim = d
            for l in 0..<config.layers {
                let w = weights.layer(l), hs = hiddens[l]
                rows.gemm(
                    steps: range.count, a: x, aRowStride: xDim, b: w.inputT, c: cellLayers.inputProjection(layer: l) + r0 * gh,
                    ldc: gh, accumulate: false)
                if range.lowerBound == 0 { hs.update(repeating: 0, count: n * h) }
                cellLayers.forward(layer: l, h: hs, rows: rows, steps: range, shape: config.layerShape(l, rows: capacity), weights: w)
                x = UnsafePointer(hs + (r0 + n) * h)
                xDim = h
            }
            rows.gemm(steps: range.count, a: x, aRowStride: h, b: weights.denseT, c: y + r0 * out, ldc: out, accumulate: false)
            addBiasRows(y + r0 * out, rows: range.count * n, cols: out, bias: bias)
        }
        run(0..<top)
        for s in top..<t {
            for b in 0..<n where feedback.feedsBack(row: b, step: s) {
                let prediction = y + ((s - 1) * n + b) * out, input = sampledInputs + (s * n + b) * d
                for j in 0..<d { input[j] = min(max(prediction[j], 0), 1) }
            }
            run(s..<(s + 1))
        }
    }

    // MARK: Backward

    /// Once per parameter version: packs W_ih, W_hh and W_d (PyTorch's layout, read as the
    /// transposes of the stored matrices) for the backward products dG W and dY W.
    public func prepareBackward(_ params: UnsafePointer<Float>) {
        precondition(includesBackward)
        weights.update(from: params, .backward)
    }

    /// Gradient of (sum of squared errors) x `lossScale` with respect to every parameter, for
    /// each shard of the block that `forward` just ran, written (not added) where `sink` says.
    /// The tensors of a region (`GradientRegion`: the Dense layer first, then the recurrent
    /// layers from the top) are written for every shard in order, then the next region's.
    /// For the minibatch mean, lossScale = 1 / (batch x steps x out).
    public func backward<Sink: GradientSink>(_ params: UnsafePointer<Float>, rows n: Int, lossScale: Float, sink: inout Sink) {
        precondition(includesBackward)
        let t = steps, h = config.hidden, gh = cell.gateCount * h, out = config.outputSize
        let layers = config.layers, fmt = weights.format
        let rows = block(n), shards = rows.shards
        let dy = dOutputs
        squaredErrorGradient(outputPointer, patches + n * config.inputSize, count: t * n * out, scale: lossScale, into: dy)

        // The Dense layer: dW_d = h_top^T dY and db_d per shard; dL/dh_top for all rows.
        let top = UnsafePointer(hiddens[layers - 1] + n * h)
        for j in 0..<shards {
            let r = rows.shard(j)
            let grad = sink.destination(shard: j, region: .dense)
            let a = gatherShard(top, cols: h, blockRows: n, rows: r, steps: t)
            let dyPacked = packShard(dy, cols: out, blockRows: n, rows: r, format: fmt)
            gemm(m: h, a: a, aRowStride: 1, aColStride: h, b: dyPacked, c: grad + layout.denseWeightT.offset, ldc: out, accumulate: false)
            shardColumnSums(dy, cols: out, blockRows: n, rows: r, steps: t, into: grad + layout.denseBias.offset)
            sink.finished(shard: j, region: .dense)
        }
        rows.gemm(steps: t, a: dy, aRowStride: out, b: weights.dense, c: dHiddenAbove, ldc: h, accumulate: false)

        for l in stride(from: layers - 1, through: 0, by: -1) {
            let v = layout.layers[l], w = weights.layer(l), hs = hiddens[l]
            let gradients = cellLayers.backward(
                layer: l, h: hs, dhAbove: dHiddenAbove, rows: rows,
                shape: config.layerShape(l, rows: capacity), weights: w)
            let dInput = gradients.input, dHidden = gradients.hidden
            let xDim = config.layerInputSize(l)
            let x = l == 0 ? layerZeroInput : UnsafePointer(hiddens[l - 1] + n * h)
            for j in 0..<shards {
                let r = rows.shard(j), rn = r.count, tn = t * rn
                let grad = sink.destination(shard: j, region: .layer(l))
                // h_0 = 0, so step 0 adds nothing to dW_hh: sum over steps 1..T-1, each paired
                // with the hidden state it read (h_t, block t of hs).
                let dG = packShard(dHidden, cols: gh, blockRows: n, rows: r, format: fmt)
                let hRead = gatherShard(UnsafePointer(hs + n * h), cols: h, blockRows: n, rows: r, steps: t - 1)
                gemm(
                    m: h, a: hRead, aRowStride: 1, aColStride: h, b: dG.rows(rn..<tn), c: grad + v.weightHHt.offset, ldc: gh,
                    accumulate: false)
                if case .separate = gradients { _ = packShard(dInput, cols: gh, blockRows: n, rows: r, format: fmt) }
                let xs = gatherShard(x, cols: xDim, blockRows: n, rows: r, steps: t)
                gemm(m: xDim, a: xs, aRowStride: 1, aColStride: xDim, b: dG, c: grad + v.weightIHt.offset, ldc: gh, accumulate: false)
                shardColumnSums(dInput, cols: gh, blockRows: n, rows: r, steps: t, into: grad + v.biasIH.offset)
                switch gradients {
                case .shared:
                    (grad + v.biasHH.offset).update(from: grad + v.biasIH.offset, count: gh)
                case .separate:
                    shardColumnSums(dHidden, cols: gh, blockRows: n, rows: r, steps: t, into: grad + v.biasHH.offset)
                }
                sink.finished(shard: j, region: .layer(l))
            }
            if l > 0 {
                rows.gemm(steps: t, a: dInput, aRowStride: gh, b: w.input, c: dHiddenBelow, ldc: h, accumulate: false)
                swap(&dHiddenAbove, &dHiddenBelow)
            }
        }
    }

    /// The same for a block that is one shard, into one gradient buffer (tests, benchmarks).
    public func backward(_ params: UnsafePointer<Float>, rows n: Int, lossScale: Float, grad: UnsafeMutablePointer<Float>) {
        precondition(shardCount(rows: n) == 1, "one gradient buffer holds one shard")
        var sink = SingleBuffer(grad)
        backward(params, rows: n, lossScale: lossScale, sink: &sink)
    }

    /// Rows `rows` of the first `steps` time steps of a block matrix [steps*N x cols] (row
    /// t * N + r), gathered in the shard's own order (row t * n + b) into `gathered`.
    private func gatherShard(_ src: UnsafePointer<Float>, cols: Int, blockRows n: Int, rows r: Range<Int>, steps: Int) -> UnsafePointer<
        Float
    > {
        let rn = r.count
        for t in 0..<steps {
            (gathered + t * rn * cols).update(from: src + (t * n + r.lowerBound) * cols, count: rn * cols)
        }
        return UnsafePointer(gathered)
    }

    /// The shard's rows of all steps of a block matrix [TN x cols], packed as the B of a
    /// weight-gradient product (k = T * rows in the shard's order).
    private func packShard(_ src: UnsafePointer<Float>, cols: Int, blockRows n: Int, rows r: Range<Int>, format: PanelFormat)
        -> PackedMatrix
    {
        let rn = r.count
        let packed = PackedMatrix(base: packedGrad, k: steps * rn, n: cols, format: format)
        for t in 0..<steps {
            packed.rows((t * rn)..<((t + 1) * rn)).pack(src + (t * n + r.lowerBound) * cols, rowStride: cols)
        }
        return packed
    }

    /// Column sums over the shard's rows in its own order (step, then sequence).
    private func shardColumnSums(
        _ src: UnsafePointer<Float>, cols: Int, blockRows n: Int, rows r: Range<Int>, steps: Int,
        into dst: UnsafeMutablePointer<Float>
    ) {
        for t in 0..<steps {
            columnSums(src + (t * n + r.lowerBound) * cols, rows: r.count, cols: cols, into: dst, accumulate: t > 0)
        }
    }
}

/// The parts of the parameter vector whose gradients a backward pass writes together: the
/// Dense layer first, then each recurrent layer from the top. Each is a contiguous range of
/// the parameter layout.
public enum GradientRegion: Equatable, Sendable {
    case dense
    case layer(Int)

    /// 0..<layers for the recurrent layers (in layout order), `layers` for the Dense layer.
    public func index(layers: Int) -> Int {
        switch self {
        case .dense: return layers
        case .layer(let l): return l
        }
    }

    /// Its range in the parameter layout (the Dense layer's runs to the padded end).
    public static func range(index: Int, in layout: ParameterLayout) -> Range<Int> {
        let layers = layout.layers
        let lower = index < layers.count ? layers[index].weightIHt.offset : layout.denseWeightT.offset
        let upper =
            index + 1 < layers.count
            ? layers[index + 1].weightIHt.offset
            : index + 1 == layers.count ? layout.denseWeightT.offset : layout.paddedCount
        return lower..<upper
    }
}

/// Where a backward pass writes each shard's gradient, region by region. `destination` gives a
/// buffer in the parameter layout whose region the pass then overwrites for that shard;
/// `finished` is called when it has.
public protocol GradientSink {
    mutating func destination(shard: Int, region: GradientRegion) -> UnsafeMutablePointer<Float>
    mutating func finished(shard: Int, region: GradientRegion)
}

/// Every shard into the same buffer (a block of one shard).
struct SingleBuffer: GradientSink {
    let buffer: UnsafeMutablePointer<Float>
    init(_ buffer: UnsafeMutablePointer<Float>) { self.buffer = buffer }
    func destination(shard: Int, region: GradientRegion) -> UnsafeMutablePointer<Float> { buffer }
    func finished(shard: Int, region: GradientRegion) {}
}
