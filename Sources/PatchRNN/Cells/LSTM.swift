import PatchRNNKernels

/// The LSTM cell, as PyTorch's nn.LSTM computes it. Gate order i, f, g, o:
///   a = x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh          [G*H = 4H]
///   i = s(a_i)  f = s(a_f)  g = tanh(a_g)  o = s(a_o)
///   c_t = f c_{t-1} + i g      h_t = o tanh(c_t)
/// The hidden projection adds straight into the input projection's sums, so one buffer of
/// pre-activation gradients serves both weight gradients. The kernels are in
/// PatchRNNKernels/FusedLSTM.swift (the step, gates grouped) and LSTMKernels.swift.
public enum LSTMCell: RecurrentCell {
    public static let name = "lstm"
    public static let title = "LSTM"
    public static let gateCount = 4
    public static let gateOrder = "i,f,g,o"

    public static func multiplyAddsPerStep(input: Int, hidden: Int) -> Int { (input + hidden) * 4 * hidden }

    // MARK: Training

    /// What forward keeps for backward, per layer (T steps, n rows, H hidden).
    public struct Forward: CellForwardBuffers {
        /// [Tn x 4H]: the input projection in, the activated i, f, g, o out.
        public let gates: UnsafeMutablePointer<Float>
        /// [(T+1)n x H], block 0 = c_0 = 0.
        public let cells: UnsafeMutablePointer<Float>
        /// [Tn x H]: tanh(c_t), which backward reads twice.
        public let tanhCells: UnsafeMutablePointer<Float>

        public init(_ d: inout BufferDeclarations, shape s: LayerShape) {
            let tn = s.steps * s.rows
            gates = d.buffer("gates", tn * 4 * s.hidden)
            cells = d.buffer("cells", (s.steps + 1) * s.rows * s.hidden)
            tanhCells = d.buffer("tanh(cells)", tn * s.hidden)
        }

        public var inputProjection: UnsafeMutablePointer<Float> { gates }
    }

    /// Backward's scratch, shared by the layers.
    public struct BackwardScratch: CellBuffers {
        /// [Tn x 4H]: the pre-activation gradients (of both projections).
        public let dGates: UnsafeMutablePointer<Float>
        /// [n x H]: dL/dh_t from step t+1.
        public let dHiddenRecurrent: UnsafeMutablePointer<Float>
        /// [n x H]: dL/dc_t.
        public let dCell: UnsafeMutablePointer<Float>

        public init(_ d: inout BufferDeclarations, shape s: LayerShape) {
            dGates = d.buffer("dGates", s.steps * s.rows * 4 * s.hidden)
            dHiddenRecurrent = d.buffer("dHiddenRecurrent", s.rows * s.hidden)
            dCell = d.buffer("dCell", s.rows * s.hidden)
        }
    }

    public static func forward(
        _ b: Forward, h hs: UnsafeMutablePointer<Float>, rows: BlockRows,
        steps: Range<Int>, shape: LayerShape, weights w: PackedLayer
    ) {
        let h = shape.hidden, g4 = 4 * h, n = rows.count
        if steps.lowerBound == 0 { b.cells.update(repeating: 0, count: n * h) }
        for s in steps {
            let gs = b.gates + s * n * g4
            if w.fused {
                // The recurrent product and the cell in one kernel (h_0 = 0: no product at step 0).
                let step = LSTMStepBuffers(
                    k: s > 0 ? h : 0, a: hs + s * n * h, aRowStride: h, panels: w.hiddenPanels,
                    gates: gs, startsFromGates: true, storesGates: true, bias: w.biasSum,
                    cPrev: b.cells + s * n * h, cOut: b.cells + (s + 1) * n * h, cRowStride: h,
                    tanhC: b.tanhCells + s * n * h, hOut: hs + (s + 1) * n * h, hRowStride: h, layout: w.gates)
                rows.forEachRun(steps: 1, format: w.format) { run, split in lstmFusedStep(step, rows: run, split: split) }
                continue
            }
            // h_0 = 0: the first step has no recurrent product.
            if s > 0 { rows.gemm(a: hs + s * n * h, aRowStride: h, b: w.hiddenT, c: gs, ldc: g4, accumulate: true) }
            lstmCellForward(
                rows: n, hidden: h, gates: gs, bias: w.biasSum,
                cPrev: b.cells + s * n * h, cOut: b.cells + (s + 1) * n * h,
                tanhC: b.tanhCells + s * n * h, hOut: hs + (s + 1) * n * h)
        }
    }

    public static func backward(
        _ b: Forward, scratch: BackwardScratch, h hs: UnsafePointer<Float>, dhAbove: UnsafePointer<Float>,
        rows: BlockRows, shape: LayerShape, weights w: PackedLayer
    ) -> ProjectionGradients {
        let h = shape.hidden, g4 = 4 * h, n = rows.count
        let dg = scratch.dGates, dhr = scratch.dHiddenRecurrent, dc = scratch.dCell
        dhr.update(repeating: 0, count: n * h)
        dc.update(repeating: 0, count: n * h)
        for s in stride(from: shape.steps - 1, through: 0, by: -1) {
            lstmCellBackward(
                rows: n, hidden: h, layout: w.gates, gates: b.gates + s * n * g4, cPrev: b.cells + s * n * h,
                tanhC: b.tanhCells + s * n * h, dhAbove: dhAbove + s * n * h, dhRecurrent: dhr,
                dc: dc, dGates: dg + s * n * g4)
            if s > 0 { rows.gemm(a: dg + s * n * g4, aRowStride: g4, b: w.hidden, c: dhr, ldc: h, accumulate: false) }
        }
        return .shared(UnsafePointer(dg))
    }

    // MARK: Generation

    // Each step is one product over [x_t | h_{t-1}] with the stacked weights [W_ih^T ; W_hh^T],
    // so the gate sums are made once instead of by x W_ih^T and then + h W_hh^T (fused with the
    // cell where the gates are grouped). Each output is still the sum over k of the input
    // products followed by the hidden ones, as in two products with these rows.

    /// Per layer: [x | h] rows and c.
    public struct GenerationState: CellGenerationState {
        /// [n x (in + H)]: x_t beside h_{t-1}.
        public let stacked: UnsafeMutablePointer<Float>
        /// [n x H].
        public let cells: UnsafeMutablePointer<Float>
        public let inputStride: Int

        public init(_ d: inout BufferDeclarations, shape s: LayerShape) {
            stacked = d.buffer("[x | h]", s.rows * (s.input + s.hidden))
            cells = d.buffer("cells", s.rows * s.hidden)
            inputStride = s.input + s.hidden
        }

        public var input: UnsafeMutablePointer<Float> { stacked }
    }

    /// A step's scratch, shared by the layers (so a worker's generation buffers stay in its L2).
    public struct GenerationScratch: CellGenerationScratch {
        /// [n x 4H] (the separate kernels only).
        public let gates: UnsafeMutablePointer<Float>
        /// [n x H] (the separate kernels only).
        public let tanhCells: UnsafeMutablePointer<Float>
        /// [n x H]: h_t.
        public let hidden: UnsafeMutablePointer<Float>
        public let outputStride: Int

        public init(_ d: inout BufferDeclarations, shape s: LayerShape) {
            gates = d.buffer("gates", s.rows * 4 * s.hidden)
            tanhCells = d.buffer("tanh(cells)", s.rows * s.hidden)
            hidden = d.buffer("h", s.rows * s.hidden)
            outputStride = s.hidden
        }

        public var output: UnsafeMutablePointer<Float> { hidden }
    }

    public static let generationForms: PackedForms = [.stacked]
    /// Fused: one pass over [x | h] and the cell per layer and step, about 5% faster than the
    /// GEMM and the cell kernel apart on a Zen 3 core (docs/performance.md, "Gates in registers").
    public static let generationGateOrder = GateOrder.grouped

    public static func generationReset(_ state: GenerationState, rows n: Int, shape s: LayerShape) {
        state.cells.update(repeating: 0, count: n * s.hidden)
        state.stacked.update(repeating: 0, count: n * (s.input + s.hidden))  // h_0 = 0
    }

    public static func generationStep(
        _ state: GenerationState, scratch: GenerationScratch, rows n: Int,
        shape s: LayerShape, weights w: PackedLayer
    ) {
        let h = s.hidden, stride = s.input + h
        let rows = state.stacked, hOut = scratch.hidden
        if w.fused {
            // [x | h] [W_ih^T ; W_hh^T] and the cell in one kernel; c is updated in place.
            let step = LSTMStepBuffers(
                k: stride, a: rows, aRowStride: stride, panels: w.stackedPanels, gates: scratch.gates,
                startsFromGates: false, storesGates: false, bias: w.biasSum,
                cPrev: state.cells, cOut: state.cells, cRowStride: h,
                tanhC: nil, hOut: hOut, hRowStride: h, layout: w.gates)
            BlockRows(count: n, shardSize: n).forEachRun(steps: 1, format: w.format) { run, split in
                lstmFusedStep(step, rows: run, split: split)
            }
        } else {
            gemm(m: n, a: rows, aRowStride: stride, b: w.stackedT, c: scratch.gates, ldc: 4 * h, accumulate: false)
            lstmCellForward(
                rows: n, hidden: h, gates: scratch.gates, bias: w.biasSum, cPrev: state.cells, cOut: state.cells,
                tanhC: scratch.tanhCells, hOut: hOut)
        }
        // h_t goes beside x_{t+1} for this layer's next step.
        for b in 0..<n { (rows + b * stride + s.input).update(from: hOut + b * h, count: h) }
    }
}
